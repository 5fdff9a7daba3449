import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { Client } from 'pg';
import { databaseUrl } from '@strangler/migrations';
import { loadProject, registerProjectCommands } from '@strangler/project';
import { scratchDatabase, testStack } from '../../e2e/support/env';

/** `strangler init` against a database a tool made (not this project's migrations) and a running app. */
describe('strangler init', () => {
  let dir: string;
  let app: http.Server;
  let appUrl: string;
  const printed: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'init-'));
    app = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => app.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    printed.length = 0;
    jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void printed.push(a.join(' ')));
  });
  afterEach(() => jest.restoreAllMocks());

  const run = async (...args: string[]) => {
    const program = new Command('strangler').exitOverride();
    registerProjectCommands(program);
    const before = process.exitCode;
    try {
      await program.parseAsync(args, { from: 'user' });
      return process.exitCode ?? 0;
    } finally {
      process.exitCode = before;
    }
  };

  it('reads every table, its key or how to key it, the types a copy changes, generated columns; writes a file that checks; names what capture lacks', async () => {
    const db = await scratchDatabase('foreign');
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(`
        CREATE TYPE account_kind AS ENUM ('checking', 'savings');
        CREATE DOMAIN iban AS varchar(34) CHECK (VALUE ~ '^[A-Z]{2}');
        CREATE TABLE accounts (id uuid PRIMARY KEY, kind account_kind NOT NULL, iban iban, balance numeric(18,2) NOT NULL DEFAULT 0,
          balance_cents bigint GENERATED ALWAYS AS ((balance * 100)::bigint) STORED, tags text[], meta jsonb);
        CREATE TABLE ledger_lines (account_id uuid NOT NULL, line_no int NOT NULL, amount numeric NOT NULL, PRIMARY KEY (account_id, line_no));
        CREATE TABLE audit_log (at timestamptz NOT NULL, actor text NOT NULL, what text);
        CREATE SCHEMA billing; CREATE TABLE billing.invoices (number text NOT NULL UNIQUE, total money);
      `);
      const out = path.join(dir, 'strangler.yaml');
      const code = await run('init', '--tenant', 'acme', '--app', appUrl, '--database-url', db.url, '--out', out);
      const text = printed.join('\n');
      // The toolkit's tables are missing and audit_log has no key: capture cannot start yet, and says so with the fixes.
      expect(code).toBe(1);
      expect(text).toContain(`wrote ${out}: 4 tables captured, the proxy in front of ${appUrl}, every route on the monolith`);
      expect(text).toContain('app: answers (200)');
      expect(text).toMatch(/public\.accounts\s+key id; kind account_kind -> text; iban iban -> character varying\(34\); generated balance_cents/);
      expect(text).toMatch(/public\.ledger_lines\s+key account_id, line_no/);
      expect(text).toMatch(/billing\.invoices\s+key number/);
      expect(text).toMatch(/public\.audit_log\s+NO KEY/);
      expect(text).toContain('public.audit_log: give public.audit_log a primary key in the monolith (ALTER TABLE public.audit_log ADD PRIMARY KEY (...)), or, for a mirror, name the columns that identify a row in the project file: capture.keys.public.audit_log: [at, actor]');
      // What registering will change in their tables is said too (the connector sets REPLICA IDENTITY FULL).
      expect(text).toContain("registering the capture will also:\n  - registering the connector sets REPLICA IDENTITY FULL on billing.invoices (it has no primary key: without it PostgreSQL would refuse the app's UPDATE and DELETE once the table is published)");
      expect(text).toContain('  - registering the connector sets REPLICA IDENTITY FULL on public.accounts: each change event then carries the whole old row');
      expect(text).toContain(`npm run migrate -- latest monolith-cdc --database-url ${db.url}`);
      // Nothing was changed in the database.
      expect((await c.query("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'strangler'")).rows[0].n).toBe(0);
      expect((await c.query("SELECT relreplident FROM pg_class WHERE relname = 'audit_log'")).rows[0].relreplident).toBe('d');
      // The file checks, captures every table, and carries what was found as comments.
      const p = loadProject(out, {});
      expect(p.project.capture.tables).toEqual(['billing.invoices', 'public.accounts', 'public.audit_log', 'public.ledger_lines']);
      expect(p.project.tenants.acme).toMatchObject({ monolith: appUrl, hosts: ['acme.localhost'] });
      expect(p.databases.acme).toBe(db.url);
      expect(p.routes).toEqual([]);
      const yaml = fs.readFileSync(out, 'utf8');
      expect(yaml).toContain('- public.audit_log # no key:');
      expect(yaml).toContain('Before capture can start (nothing was changed in the database):');
      // Written once: not overwritten without --force.
      await expect(run('init', '--tenant', 'acme', '--app', appUrl, '--database-url', db.url, '--out', out)).rejects.toMatchObject({ code: 'STR_ERR_CLI_USAGE', message: `${out} exists: pass --force to overwrite it, or --out another file` });
      printed.length = 0;
      expect(await run('project', 'check', out)).toBe(0);
      expect(printed).toEqual([`${out}: valid: 1 tenant(s), 4 table(s) captured, 0 service(s), 0 route(s)`]);
    } finally {
      await c.end();
      await db.drop();
    }
  });

  it('a password stays out of the file (read from the environment); logical decoding off and an app that is down are named with their fix', async () => {
    // The machine's own PostgreSQL runs with wal_level = replica: exactly what a team's database often has.
    const server = process.env.STRANGLER_SYSTEM_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
    const admin = new Client({ connectionString: server });
    const reachable = await admin.connect().then(() => true, () => false);
    if (!reachable) {
      console.warn(`no PostgreSQL at ${server}: the wal_level check is covered by the unit checks only`);
      return;
    }
    const name = `init_replica_${process.pid}`;
    const role = `init_user_${process.pid}`;
    try {
      const level = (await admin.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'hunter2'`);
      const url = databaseUrl(server, name).replace('postgres@', `${role}:hunter2@`);
      const t = new Client({ connectionString: databaseUrl(server, name) });
      await t.connect();
      await t.query(`CREATE TABLE items (id int PRIMARY KEY, name text); ALTER TABLE items OWNER TO ${role}`);
      await t.end();
      const out = path.join(dir, 'replica.yaml');
      const closed = http.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const downUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
      await new Promise((r) => closed.close(r)); // a port nothing listens on
      const code = await run('init', '--tenant', 'globex', '--app', downUrl, '--database-url', url, '--out', out, '--json');
      expect(code).toBe(1);
      const report = JSON.parse(printed.join('\n'));
      expect(report.app).toEqual({ reachable: false, problem: `the app does not answer at ${downUrl}: ECONNREFUSED (start it, or pass the URL it serves on with --app)` });
      if (level !== 'logical') expect(report.problems).toContainEqual(expect.objectContaining({ check: 'wal_level', fix: expect.stringContaining("ALTER SYSTEM SET wal_level = 'logical'; then restart PostgreSQL") }));
      expect(report.problems).toContainEqual(expect.objectContaining({ check: 'replication_role', fix: expect.stringMatching(new RegExp(`ALTER ROLE "?${role}"? WITH REPLICATION;`)) }));
      expect(report.env).toEqual(['GLOBEX_DATABASE_URL']);
      const yaml = fs.readFileSync(out, 'utf8');
      expect(yaml).not.toContain('hunter2');
      expect(yaml).toContain('env: GLOBEX_DATABASE_URL');
      expect(loadProject(out, { GLOBEX_DATABASE_URL: url }).databases.globex).toBe(url);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
    }
  });

  it('refuses a database it cannot reach, saying what to check', async () => {
    const url = databaseUrl(testStack().pgAdminUrl, 'no_such_database_here');
    await expect(run('init', '--tenant', 'acme', '--app', appUrl, '--database-url', url, '--out', path.join(dir, 'x.yaml'))).rejects.toMatchObject({
      code: 'STR_ERR_CDC_SOURCE_UNAVAILABLE',
      message: expect.stringMatching(/^cannot reach the database .*no_such_database_here: database "no_such_database_here" does not exist \(check the URL, that PostgreSQL listens there, and that pg_hba.conf lets this user in from here\)$/),
    });
  });
});
