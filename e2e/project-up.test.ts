import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client } from 'pg';
import YAML from 'yaml';
import { ConnectClient, removeTenantConnector } from '@strangler/cdc';
import { eventually, randomName, scratchDatabase, scratchDir } from './support/env';
import { deleteTenantTopics } from './support/streaming';
import { freePort } from '../stack/src/ports';
import { migrate } from '@strangler/migrations';

const REPO_ROOT = path.resolve(__dirname, '..');

/**
 * `npm start -- --project FILE` around an app and a database this project
 * did not write: its own Kafka, Connect and control store, the tenant's
 * connector, the proxy in front of the app, the declared mirror; Ctrl-C
 * stops all of it and leaves the app and its database alone.
 */
describe('strangler up --project', () => {
  const tenant = randomName('up');
  const dir = scratchDir('project-up');
  let app: http.Server;
  let source: Awaited<ReturnType<typeof scratchDatabase>>;
  let service: Awaited<ReturnType<typeof scratchDatabase>>;
  let child: ChildProcess | undefined;
  let connectUrl = '';
  let output = '';

  beforeAll(async () => {
    app = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ app: 'theirs', path: req.url, host: req.headers.host })));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    source = await scratchDatabase(tenant);
    service = await scratchDatabase(`${tenant}_svc`);
    const c = new Client({ connectionString: source.url });
    await c.connect();
    await c.query('CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2)); INSERT INTO items VALUES (1, \'first\', 9.99)');
    await c.end();
    // What `strangler init` tells the team to run (up itself never changes their database).
    await migrate('monolith-cdc', source.url);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    if (connectUrl) await removeTenantConnector(new ConnectClient(connectUrl), tenant, source.url).catch(() => undefined);
    // Its Connect stopped with the stack: the slot it read is dropped here (a database holding one cannot be dropped).
    const c = new Client({ connectionString: source.url });
    await c.connect();
    await c.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [`strangler_${tenant}`]).catch(() => undefined);
    await c.end();
    await new Promise((r) => app.close(r));
    await source?.drop();
    await service?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('starts what the file declares around their app and database, forwards to the app, mirrors its table, and stops on Ctrl-C', async () => {
    const ports = await Promise.all(Array.from({ length: 7 }, () => freePort()));
    const [pg, kafka, controller, connect, proxy, admin, mirror] = ports as [number, number, number, number, number, number, number];
    connectUrl = `http://127.0.0.1:${connect}`;
    const file = path.join(dir, 'strangler.yaml');
    fs.writeFileSync(
      file,
      YAML.stringify({
        version: 1,
        name: 'their-shop',
        tenants: { [tenant]: { monolith: `http://127.0.0.1:${(app.address() as { port: number }).port}`, database: { value: source.url }, hosts: [`${tenant}.localhost`] } },
        capture: { tables: ['public.items'] },
        services: { catalog: { url: 'http://127.0.0.1:9', database: { value: service.url }, mirrors: ['public.items'], mirrorPort: mirror } },
        proxy: { listen: { port: proxy }, admin: { port: admin } },
      }),
    );
    const stateDir = path.join(dir, 'state');
    fs.mkdirSync(stateDir, { recursive: true });
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(stateDir, 0o755);
    const env = {
      ...process.env,
      STRANGLER_STATE_DIR: stateDir,
      STRANGLER_PG_PORT: String(pg),
      STRANGLER_KAFKA_PORT: String(kafka),
      STRANGLER_KAFKA_CONTROLLER_PORT: String(controller),
      STRANGLER_CONNECT_PORT: String(connect),
      STRANGLER_JVM_HEAP: '512m',
    };
    child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'stack/src/cli.ts'), 'up', '--project', file], { cwd: REPO_ROOT, env });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    const ready = eventually(() => output.includes('Ctrl-C stops everything'), 180_000, 250);
    const early = exited.then((code) => Promise.reject(new Error(`exited (${code}) before ready`)));
    await Promise.race([ready, early]).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
    expect(output).toMatch(/strangler project their-shop: starting/);
    expect(output).toMatch(new RegExp(`connector ${tenant}\\s+strangler-${tenant} created, streaming 1 tables`));
    expect(output).toMatch(/mirror catalog\s+serving http:\/\/127\.0\.0\.1:\d+ \(public\.items\)/);
    // The proxy fronts their app, tenant by host.
    // (http.get: fetch leaves a Host header out)
    const answer = await new Promise<{ status: number; body: string; via?: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy, path: '/anything?x=1', headers: { host: `${tenant}.localhost` } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, via: res.headers.via as string | undefined }));
      }).on('error', reject);
    });
    expect(answer).toMatchObject({ status: 200, via: '1.1 strangler' });
    expect(JSON.parse(answer.body)).toMatchObject({ app: 'theirs', path: '/anything?x=1' });
    // Their table, mirrored into the service's database, and kept in step.
    const src = new Client({ connectionString: source.url });
    const dst = new Client({ connectionString: service.url });
    await src.connect();
    await dst.connect();
    try {
      await src.query("INSERT INTO items VALUES (2, 'second', 1.50)");
      const rows = await eventually(async () => {
        const r = await dst.query('SELECT id, name, price FROM items WHERE tenant = $1 ORDER BY id', [tenant]).catch(() => null);
        return r && r.rows.length === 2 ? r.rows : undefined;
      }, 90_000, 500);
      expect(rows).toEqual([{ id: '1', name: 'first', price: '9.99' }, { id: '2', name: 'second', price: '1.50' }]);
      const freshness = (await (await fetch(`http://127.0.0.1:${mirror}/freshness`)).json()) as { tenants: Array<{ tenant: string }> };
      expect(freshness.tenants.map((t) => t.tenant)).toEqual([tenant]);
    } finally {
      await src.end();
      await dst.end();
    }
    // `status --project` finds it (the same state folder), every child running.
    const status = await new Promise<string>((resolve) => {
      let out = '';
      const s = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'stack/src/cli.ts'), 'status', '--project', file], { cwd: REPO_ROOT, env });
      s.stdout!.on('data', (d) => (out += d));
      s.stderr!.on('data', (d) => (out += d));
      s.once('exit', () => resolve(out));
    });
    expect(status).toMatch(/mirror-catalog\s+pid \d+\s+running/);
    expect(status).toMatch(/proxy\s+pid \d+\s+running/);
    // One Ctrl-C stops everything it started; their app still answers.
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopped');
    const stillThere = await fetch(`http://127.0.0.1:${(app.address() as { port: number }).port}/`);
    expect(stillThere.status).toBe(200);
    await deleteTenantTopics([tenant], `127.0.0.1:${kafka}`).catch(() => undefined);
  }, 400_000);
});
