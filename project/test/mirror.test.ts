import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { Client } from 'pg';
import YAML from 'yaml';
import { ConnectClient, registerCdcCommands, removeTenantConnector } from '@strangler/cdc';
import { cdcProjectView, loadProject, registerProjectCommands, scaffoldService, startMirror, type RunningMirror } from '@strangler/project';
import { eventually, randomName, scratchDatabase, scratchDir, testStack } from '../../e2e/support/env';
import { deleteTenantTopics } from '../../e2e/support/streaming';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * A database this project did not make, taken from `strangler init` to a
 * running mirror through the CLI and the project file: no toolkit code
 * written for it.
 */
describe('strangler mirror run: a declared mirror of a foreign database', () => {
  const tenant = randomName('pm');
  const connect = new ConnectClient(testStack().connectUrl);
  let source: Awaited<ReturnType<typeof scratchDatabase>>;
  let service: Awaited<ReturnType<typeof scratchDatabase>>;
  let src: Client;
  let mirror: RunningMirror | undefined;
  const dir = scratchDir('mirror');

  const cliOutput = async (...args: string[]) => {
    const program = new Command('strangler').exitOverride();
    registerProjectCommands(program);
    let text = '';
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (text += `${a.join(' ')}\n`));
    const before = process.exitCode;
    try {
      await program.parseAsync(args, { from: 'user' });
      return { code: process.exitCode ?? 0, text };
    } finally {
      process.exitCode = before;
      log.mockRestore();
    }
  };

  const cli = async (...args: string[]) => {
    const program = new Command('strangler').exitOverride();
    registerProjectCommands(program);
    registerCdcCommands(program, cdcProjectView);
    const log = jest.spyOn(console, 'log').mockImplementation(() => {});
    const before = process.exitCode;
    try {
      await program.parseAsync(args, { from: 'user' });
      return process.exitCode ?? 0;
    } finally {
      process.exitCode = before;
      log.mockRestore();
    }
  };

  beforeAll(async () => {
    source = await scratchDatabase(tenant);
    service = await scratchDatabase(`${tenant}_svc`);
    src = new Client({ connectionString: source.url });
    await src.connect();
    await src.query(`
      CREATE TYPE account_kind AS ENUM ('checking', 'savings');
      CREATE TABLE accounts (id uuid PRIMARY KEY, kind account_kind NOT NULL, balance numeric(18,2) NOT NULL DEFAULT 0,
        balance_cents bigint GENERATED ALWAYS AS ((balance * 100)::bigint) STORED, tags text[], meta jsonb);
      CREATE TABLE ledger_lines (account_id uuid NOT NULL, line_no int NOT NULL, amount numeric NOT NULL, PRIMARY KEY (account_id, line_no));
      CREATE TABLE audit_log (at timestamptz NOT NULL, actor text NOT NULL, what text);
      ALTER TABLE audit_log REPLICA IDENTITY FULL;
      INSERT INTO accounts (id, kind, balance, tags, meta) VALUES ('3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70', 'checking', 10.50, '{vip}', '{"a": 1}');
    `);
  }, 60_000);

  afterAll(async () => {
    await mirror?.stop();
    await src?.end();
    await removeTenantConnector(connect, tenant, source.url).catch(() => undefined);
    await deleteTenantTopics([tenant]).catch(() => undefined);
    await source?.drop();
    await service?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('init, register with --prepare, declare the service, run its mirror: every tenant row copied, typed, keyed, kept in step', async () => {
    const file = path.join(dir, 'strangler.yaml');
    // 1. init: writes the file; capture is not ready yet (the toolkit's tables), exit 1.
    expect(await cli('init', '--tenant', tenant, '--app', 'http://127.0.0.1:9', '--database-url', source.url, '--out', file)).toBe(1);
    // 2. The capture, its prerequisites added on request.
    expect(await cli('cdc', 'register', '--tenant', tenant, '--project', file, '--prepare', '--wait', '--connect-url', testStack().connectUrl)).toBe(0);
    // 3. The team declares its service in the file (as a person would edit it), with the key audit_log lacks.
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
    doc.setIn(['services', 'ledger'], doc.createNode({ url: 'http://127.0.0.1:4000', database: { value: service.url }, mirrors: ['public.accounts', 'public.ledger_lines', 'public.audit_log'] }));
    doc.setIn(['capture', 'keys'], doc.createNode({ 'public.audit_log': ['at', 'actor'] }));
    fs.writeFileSync(file, doc.toString());
    expect(await cli('project', 'check', file)).toBe(0);
    // 4. The mirror, from the file alone.
    mirror = await startMirror(loadProject(file, {}), 'ledger', { brokers: [testStack().kafka] });
    expect(mirror.tables).toEqual([
      { source: 'public.accounts', target: 'accounts', key: ['id'] },
      { source: 'public.ledger_lines', target: 'ledger_lines', key: ['account_id', 'line_no'] },
      { source: 'public.audit_log', target: 'audit_log', key: ['at', 'actor'] },
    ]);
    await src.query(`
      INSERT INTO ledger_lines VALUES ('3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70', 1, 5), ('3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70', 2, 7.25);
      INSERT INTO audit_log VALUES ('2026-12-07T10:00:00Z', 'ana', 'opened'), ('2026-12-07T10:00:01Z', 'bo', 'looked');
      UPDATE accounts SET balance = 99.99, kind = 'savings' WHERE id = '3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70';
      DELETE FROM ledger_lines WHERE line_no = 1;
      UPDATE audit_log SET what = 'closed' WHERE actor = 'ana';
    `);
    const dst = new Client({ connectionString: service.url });
    await dst.connect();
    try {
      const same = async (table: string, order: string) => {
        const a = (await src.query(`SELECT * FROM ${table} ORDER BY ${order}`)).rows;
        const b = (await dst.query(`SELECT * FROM ${table} WHERE tenant = $1 ORDER BY ${order}`, [tenant])).rows.map(({ tenant: _t, ...r }) => r);
        return JSON.stringify(a) === JSON.stringify(b) ? b : undefined;
      };
      const accounts = await eventually(() => same('accounts', 'id'), 60_000, 250);
      expect(accounts).toEqual([{ id: '3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70', kind: 'savings', balance: '99.99', balance_cents: '9999', tags: ['vip'], meta: { a: 1 } }]);
      await eventually(() => same('ledger_lines', 'line_no'), 30_000, 250);
      await eventually(() => same('audit_log', 'at'), 30_000, 250);
      // The enum is kept as its label, the generated column computed by the copy.
      expect((await dst.query("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'kind'")).rows[0].t).toBe('text');
    } finally {
      await dst.end();
    }
    // 5. What the proxy and operators read.
    const freshness = (await (await fetch(`${mirror.url}/freshness`)).json()) as { tenants: Array<{ tenant: string; loading: boolean; appliedThrough: string | null }> };
    expect(freshness.tenants).toEqual([expect.objectContaining({ tenant, loading: false, appliedThrough: expect.any(String) })]);
    expect(await (await fetch(`${mirror.url}/metrics`)).text()).toMatch(new RegExp(`strangler_projection_applied_events\\{projection="${mirror.projection}",topic="${tenant}.public.accounts",partition="0",tenant="${tenant}"\\} [1-9]`));
    const unknown = await fetch(`${mirror.url}/position?tenant=nobody`);
    expect([unknown.status, ((await unknown.json()) as { error: { code: string } }).error.code]).toEqual([400, 'unknown_tenant']);
    expect(((await (await fetch(`${mirror.url}/position?tenant=${tenant}`)).json()) as { positions: unknown[] }).positions.length).toBeGreaterThanOrEqual(3);
  }, 240_000);

  it('strangler new service: a scaffold whose own parity test passes against their monolith the moment it is made', async () => {
    const file = path.join(dir, 'strangler.yaml');
    // Their monolith: serves a row of each table as JSON, by key (what the scaffold's routes mirror).
    const monolith = http.createServer((req, res) => {
      const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
      const a = /^\/accounts\/([^/]+)$/.exec(req.url ?? '');
      const l = /^\/ledger_lines\/([^/]+)\/([^/]+)$/.exec(req.url ?? '');
      const q = a ? src.query('SELECT * FROM accounts WHERE id = $1', [decodeURIComponent(a[1]!)]) : l ? src.query('SELECT * FROM ledger_lines WHERE account_id = $1 AND line_no = $2', [decodeURIComponent(l[1]!), decodeURIComponent(l[2]!)]) : null;
      if (!q) return send(404, { message: 'no such page' });
      q.then((r) => (r.rows[0] ? send(200, r.rows[0]) : send(404, { message: 'not found' })), (err: Error) => send(500, { message: err.message }));
    });
    await new Promise<void>((r) => monolith.listen(0, '127.0.0.1', r));
    const books = await scratchDatabase(`${tenant}_books`);
    try {
      const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
      doc.setIn(['tenants', tenant, 'monolith'], `http://127.0.0.1:${(monolith.address() as AddressInfo).port}`);
      fs.writeFileSync(file, doc.toString());
      // Refused, each saying what to do.
      await expect(scaffoldService({ name: 'books', tables: ['public.nothing'], projectFile: file, databaseUrl: books.url })).rejects.toThrow(/public\.nothing is not captured: add it to capture\.tables/);
      await expect(scaffoldService({ name: 'ledger', tables: ['public.accounts'], projectFile: file, databaseUrl: books.url })).rejects.toThrow(/already declares services\.ledger: pick another name/);
      await expect(scaffoldService({ name: 'Books!', tables: ['public.accounts'], projectFile: file, databaseUrl: books.url })).rejects.toThrow(/must start with a-z and hold only/);

      const out = await cliOutput('new', 'service', 'books', '--tables', 'public.accounts,public.ledger_lines', '--database-url', books.url, '--project', file);
      expect(out.code).toBe(0);
      expect(out.text).toMatch(/GET \/accounts\/:id {2}\(public\.accounts, key id\)/);
      expect(out.text).toMatch(/GET \/ledger_lines\/:account_id\/:line_no {2}\(public\.ledger_lines, key account_id, line_no\)/);
      expect(out.text).toMatch(/monolith GET \/accounts\/3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70: the monolith answers it with JSON/);
      const svc = path.join(dir, 'extracted', 'books');
      expect(fs.readdirSync(svc).sort()).toEqual(['README.md', 'jest.config.js', 'package.json', 'src', 'test', 'tsconfig.json']);
      // The project file gained the service (run by up) and its routes, on the monolith, and still checks.
      const p = loadProject(file, {});
      expect(p.project.services.books).toMatchObject({ mirrors: ['public.accounts', 'public.ledger_lines'], command: 'npx tsx extracted/books/src/main.ts', database: { value: books.url } });
      expect(p.routes.slice(0, 2)).toEqual([
        { id: 'books-accounts', match: { method: 'GET', path: '/accounts/:id' }, service: 'books', mode: 'monolith' },
        { id: 'books-ledger-lines', match: { method: 'GET', path: '/ledger_lines/:account_id/:line_no' }, service: 'books', mode: 'monolith' },
      ]);
      // Outside this repository the service finds the toolkit as an installed package would be.
      fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(svc, 'node_modules'));
      const run = promisify(execFile);
      // It compiles under strict settings...
      await run(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(svc, 'tsconfig.json'), '--noEmit'], { cwd: svc });
      // ...and its own test passes, starting the service itself (its mirror from the project file).
      const env: NodeJS.ProcessEnv = { ...process.env, STRANGLER_KAFKA: testStack().kafka };
      delete env.JEST_WORKER_ID;
      const t = await run(process.execPath, [path.join(REPO_ROOT, 'node_modules/jest/bin/jest.js'), '--ci', '--colors=false'], { cwd: svc, env }).catch((err: { stdout: string; stderr: string }) => {
        throw new Error(`the scaffold's test failed:\n${err.stdout}\n${err.stderr}`);
      });
      expect(t.stderr).toMatch(/Tests: +2 passed, 2 total/);
    } finally {
      await new Promise((r) => monolith.close(r));
      await books.drop();
    }
  }, 300_000);

  it('the generic commands take the project file: replay, parity data, cdc status, dlq by a service name', async () => {
    const file = path.join(dir, 'strangler.yaml');
    const { buildProgram } = await import('../../cli/src/main');
    const strangler = async (...args: string[]) => {
      let text = '';
      const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (text += `${a.join(' ')}\n`));
      const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
      const before = process.exitCode;
      process.exitCode = undefined;
      try {
        await buildProgram().parseAsync(args, { from: 'user' });
        return { code: process.exitCode ?? 0, text };
      } finally {
        process.exitCode = before;
        log.mockRestore();
        err.mockRestore();
      }
    };
    // The live mirror's tables rebuilt from the topics beside it, and swapped in.
    const replayed = await strangler('replay', 'ledger', '--project', file, '--from', 'earliest', '--rebuild', '--kafka', testStack().kafka);
    expect(replayed.text).toMatch(/ledger: replayed \d+ events in [\d.]+ s, rebuilt tables swapped in/);
    const parity = await strangler('parity', 'data', '--project', file, '--service', 'ledger', '--tenant', tenant, '--table', 'public.ledger_lines');
    expect(parity).toMatchObject({ code: 0, text: expect.stringMatching(new RegExp(`^EQUAL  ${tenant}: public\\.ledger_lines`, 'm')) });
    await expect(strangler('parity', 'data', '--project', file, '--service', 'ledger', '--tenant', tenant, '--table', 'public.nothing')).rejects.toThrow(/--table public\.nothing: service ledger does not mirror it \(services\.ledger\.mirrors: public\.accounts, public\.ledger_lines, public\.audit_log\)/);
    const status = await strangler('cdc', 'status', '--project', file, '--connect-url', testStack().connectUrl, '--kafka', testStack().kafka);
    expect(status.text).toMatch(new RegExp(`strangler-${tenant}\\s+${tenant}\\s+RUNNING`));
    expect(status.text).toContain(mirror!.projection);
    // books' database went with its test: said, the rest shown all the same.
    expect(status.text).toMatch(/service database postgresql:\/\/[^ ]+_books_[^ ]+: .*does not exist/);
    await expect(strangler('dlq', '--project', file, 'retry', `${tenant}.public.accounts.dlq`, '--service', 'payments')).rejects.toThrow(/--service payments: the project file declares no service with a mirror of that name \(ledger, books\)/);
    await expect(strangler('replay', 'payments', '--project', file, '--from', 'earliest')).rejects.toThrow(/no projection "payments" in .*strangler\.yaml: use one of ledger, books/);
    await expect(strangler('cdc', 'register', '--tenant', 'nobody', '--project', file)).rejects.toThrow(new RegExp(`--tenant nobody: .*strangler\\.yaml declares no such tenant \\(tenants: ${tenant}\\)`));
    await expect(strangler('cdc', 'register', '--tenant', tenant)).rejects.toThrow(/--database-url is needed \(the tenant's monolith database\), or --project FILE to take it from a project file/);
  }, 240_000);

  it('names the fix for a table its copy cannot key, and for a port taken', async () => {
    const file = path.join(dir, 'strangler.yaml');
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
    doc.setIn(['services', 'audit'], doc.createNode({ url: 'http://127.0.0.1:4001', database: { value: service.url }, mirrors: ['public.audit_log'] }));
    doc.deleteIn(['capture', 'keys']);
    const unkeyed = path.join(dir, 'unkeyed.yaml');
    fs.writeFileSync(unkeyed, doc.toString());
    await expect(startMirror(loadProject(unkeyed, {}), 'audit', { brokers: [testStack().kafka] })).rejects.toMatchObject({
      code: 'STR_ERR_PROJECT_TABLE_UNKEYED',
      message: expect.stringContaining('name the columns that identify a row in ' + unkeyed + ' (capture.keys: { public.audit_log: [<column>, ...] })'),
    });
    const taken = http.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = (taken.address() as AddressInfo).port;
      await expect(startMirror(loadProject(file, {}), 'ledger', { brokers: [testStack().kafka], port })).rejects.toMatchObject({
        code: 'STR_ERR_PROJECT_PORT_TAKEN',
        message: `port ${port} is taken: set services.ledger.mirrorPort to a free one (0: any), or pass --port`,
      });
    } finally {
      await new Promise((r) => taken.close(r));
    }
  }, 120_000);

  it('names an unknown service and the ones there are', async () => {
    const p = loadProject(path.join(dir, 'strangler.yaml'), {});
    await expect(startMirror(p, 'payments', { brokers: [testStack().kafka] })).rejects.toMatchObject({ code: 'STR_ERR_PROJECT_UNKNOWN_SERVICE', message: 'the project file declares no service "payments" (it declares ledger, books)' });
  });
});
