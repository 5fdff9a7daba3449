import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import YAML from 'yaml';
import { ConnectClient, removeTenantConnector } from '@strangler/cdc';
import { eventually, randomName, scratchDatabase, scratchDir } from './support/env';
import { deleteTenantTopics } from './support/streaming';
import { freePort } from '../stack/src/ports';

const REPO_ROOT = path.resolve(__dirname, '..');
const CLI = path.join(REPO_ROOT, 'cli', 'src', 'main.ts');

interface Ran {
  readonly code: number | null;
  readonly out: string;
}

/** One command, as a team would type it: its own process, its exit code and output. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd = REPO_ROOT): Promise<Ran> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(command, args, { cwd, env });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/**
 * A second app of another shape than the sample (an order book: tables a
 * tool made, a composite key, a table without a key, an enum, arrays,
 * jsonb, timestamps), taken from "an app and a database" to a route served
 * by a new service and back, only through the CLI and the project file
 * `strangler init` wrote: init, the toolkit's tables, `strangler new
 * service`, `strangler up --project` (capture, the proxy, the service with
 * its mirror), a write load through the proxy, `parity data` for each
 * copied table, the scaffold's own parity test against the running service,
 * a flip of one route for the tenant, and its rollback.
 */
describe('their app, end to end through the CLI', () => {
  const tenant = randomName('shop');
  const dir = scratchDir('foreign');
  let source: Awaited<ReturnType<typeof scratchDatabase>>;
  let serviceDb: Awaited<ReturnType<typeof scratchDatabase>>;
  let db: Client;
  let app: http.Server;
  const hits = { order: 0, line: 0, writes: 0 };
  let up: ChildProcess | undefined;
  let connectUrl = '';
  let kafkaPort = 0;

  beforeAll(async () => {
    source = await scratchDatabase(tenant);
    serviceDb = await scratchDatabase(`${tenant}_svc`);
    db = new Client({ connectionString: source.url });
    await db.connect();
    await db.query(`
      CREATE TYPE order_status AS ENUM ('open', 'paid', 'shipped');
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, status order_status NOT NULL DEFAULT 'open',
        total numeric(12,2) NOT NULL, placed_at timestamptz NOT NULL DEFAULT now(), tags text[] NOT NULL DEFAULT '{}', meta jsonb);
      CREATE TABLE order_lines (order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE, line int NOT NULL, sku text NOT NULL, qty int NOT NULL,
        PRIMARY KEY (order_id, line));
      CREATE TABLE events (at timestamptz NOT NULL DEFAULT now(), kind text NOT NULL, payload jsonb);
      INSERT INTO orders (customer, total, tags, meta) SELECT 'c' || g, g * 1.25, ARRAY['t' || (g % 3)], jsonb_build_object('n', g) FROM generate_series(1, 40) g;
      INSERT INTO order_lines SELECT o.id, l, 'sku-' || l, l FROM orders o, generate_series(1, 2) l;
    `);
    // Their app: reads a row by key, takes orders, changes and cancels them.
    const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    app = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const url = req.url ?? '/';
        const fail = (err: Error) => json(res, 500, { message: err.message });
        let m: RegExpExecArray | null;
        if (req.method === 'GET' && (m = /^\/orders\/(\d+)$/.exec(url))) {
          hits.order++;
          return void db.query('SELECT * FROM orders WHERE id = $1', [m[1]]).then((r) => (r.rows[0] ? json(res, 200, r.rows[0]) : json(res, 404, { message: 'no such order' })), fail);
        }
        if (req.method === 'GET' && (m = /^\/order_lines\/(\d+)\/(\d+)$/.exec(url))) {
          hits.line++;
          return void db.query('SELECT * FROM order_lines WHERE order_id = $1 AND line = $2', [m[1], m[2]]).then((r) => (r.rows[0] ? json(res, 200, r.rows[0]) : json(res, 404, { message: 'no such line' })), fail);
        }
        if (req.method === 'POST' && url === '/orders') {
          hits.writes++;
          const o = JSON.parse(body) as { customer: string; total: number; lines: number };
          return void db
            .query(
              `WITH o AS (INSERT INTO orders (customer, total, tags, meta) VALUES ($1, $2, '{new}', '{"via":"api"}') RETURNING *),
                    l AS (INSERT INTO order_lines SELECT o.id, g, 'sku-' || g, g FROM o, generate_series(1, $3::int) g),
                    e AS (INSERT INTO events (kind, payload) SELECT 'created', to_jsonb(o) FROM o)
               SELECT * FROM o`,
              [o.customer, o.total, o.lines],
            )
            .then((r) => json(res, 201, r.rows[0]), fail);
        }
        if (req.method === 'PATCH' && (m = /^\/orders\/(\d+)$/.exec(url))) {
          hits.writes++;
          return void db.query("UPDATE orders SET status = 'paid', total = total + 1, tags = tags || '{paid}' WHERE id = $1 RETURNING *", [m[1]]).then((r) => json(res, 200, r.rows[0] ?? null), fail);
        }
        if (req.method === 'DELETE' && (m = /^\/orders\/(\d+)$/.exec(url))) {
          hits.writes++;
          return void db.query('DELETE FROM orders WHERE id = $1', [m[1]]).then(() => res.writeHead(204).end(), fail);
        }
        json(res, url === '/' ? 200 : 404, { app: 'order-book' });
      });
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    // Outside this repository the service made below finds the toolkit as an installed package would be.
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    fs.chmodSync(dir, 0o755);
  }, 60_000);

  afterAll(async () => {
    if (up && up.exitCode === null) {
      up.kill('SIGKILL');
      await new Promise((r) => up!.once('exit', r));
    }
    if (connectUrl) await removeTenantConnector(new ConnectClient(connectUrl), tenant, source.url).catch(() => undefined);
    await db?.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [`strangler_${tenant}`]).catch(() => undefined);
    await db?.end();
    await new Promise((r) => app?.close(r));
    if (kafkaPort) await deleteTenantTopics([tenant], `127.0.0.1:${kafkaPort}`).catch(() => undefined);
    await source?.drop();
    await serviceDb?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('init, new service, up, a write load, parity data, its own parity test, a flip and its rollback', async () => {
    const file = path.join(dir, 'strangler.yaml');
    const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    const [pg, kafka, controller, connect, proxy, admin] = ports as [number, number, number, number, number, number];
    kafkaPort = kafka;
    connectUrl = `http://127.0.0.1:${connect}`;
    const stateDir = path.join(dir, 'state');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      STRANGLER_STATE_DIR: stateDir,
      STRANGLER_PG_PORT: String(pg),
      STRANGLER_KAFKA_PORT: String(kafka),
      STRANGLER_KAFKA_CONTROLLER_PORT: String(controller),
      STRANGLER_CONNECT_PORT: String(connect),
      STRANGLER_CONNECT_URL: connectUrl,
      STRANGLER_KAFKA: `127.0.0.1:${kafka}`,
      STRANGLER_JVM_HEAP: '512m',
    };
    const strangler = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, ...args], env);

    // 1. init: every table captured; capture not ready yet (the toolkit's two tables), the command to fix it named.
    const init = await strangler('init', '--tenant', tenant, '--app', appUrl, '--database-url', source.url, '--out', file);
    expect(init.out).toMatch(/wrote .*strangler\.yaml: 3 tables captured/);
    expect(init.out).toMatch(/public\.events\s+NO KEY/);
    const fix = /npm run migrate -- latest monolith-cdc --database-url (\S+)/.exec(init.out);
    expect(init.code).toBe(1);
    expect(fix).not.toBeNull();
    const migrated = await run('npm', ['run', '--silent', 'migrate', '--', 'latest', 'monolith-cdc', '--database-url', source.url], env);
    expect(migrated.code).toBe(0);
    // The team's own edit: where the proxy listens on this machine.
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
    doc.setIn(['proxy', 'listen', 'port'], proxy);
    doc.setIn(['proxy', 'admin', 'port'], admin);
    fs.writeFileSync(file, doc.toString());

    // 2. A new service for the orders, with its routes (on the monolith) in the file.
    const made = await strangler('new', 'service', 'orders', '--tables', 'public.orders,public.order_lines', '--database-url', serviceDb.url, '--project', file);
    expect(made).toMatchObject({ code: 0 });
    expect(made.out).toMatch(/monolith GET \/orders\/1: the monolith answers it with JSON/);
    expect(made.out).toMatch(/monolith GET \/order_lines\/1\/1: the monolith answers it with JSON/);
    expect((await strangler('project', 'check', file)).out).toMatch(/valid: 1 tenant\(s\), 3 table\(s\) captured, 1 service\(s\) \(orders\), 2 route\(s\)/);

    // 3. Up: Kafka, Connect, the capture, the proxy in front of their app, the service with its mirror.
    let output = '';
    up = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'stack/src/cli.ts'), 'up', '--project', file], { cwd: REPO_ROOT, env });
    up.stdout!.on('data', (d) => (output += d));
    up.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => up!.once('exit', (code) => r(code)));
    await Promise.race([eventually(() => output.includes('Ctrl-C stops everything'), 240_000, 250), exited.then((code) => Promise.reject(new Error(`up exited (${code}) before ready`)))]).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
    expect(output).toMatch(/service orders\s+serving http:\/\/127\.0\.0\.1:\d+ \(npx tsx extracted\/orders\/src\/main\.ts\)/);
    const serviceUrl = /service orders\s+serving (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!;
    const through = (method: string, p: string, body?: unknown) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: proxy, method, path: p, headers: { host: `${tenant}.localhost`, 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });

    // 4. A write load through the proxy: orders taken, paid, cancelled.
    const created: number[] = [];
    const load = async (until: number) => {
      for (let i = 0; Date.now() < until; i++) {
        const r = await through('POST', '/orders', { customer: `load-${i}`, total: i + 0.5, lines: 1 + (i % 3) });
        expect(r.status).toBe(201);
        created.push(Number((JSON.parse(r.body) as { id: string }).id));
        if (i % 3 === 1) expect((await through('PATCH', `/orders/${created[i - 1]}`)).status).toBe(200);
        if (i % 5 === 4) expect((await through('DELETE', `/orders/${created[i - 2]}`)).status).toBe(204);
      }
    };
    await Promise.all([load(Date.now() + 6000), load(Date.now() + 6000)]);
    expect(created.length).toBeGreaterThan(20);

    // 5. parity data: each copied table equal to their table once the copy has caught up with the load.
    for (const table of ['public.orders', 'public.order_lines']) {
      const equal = await eventually(async () => {
        const r = await strangler('parity', 'data', '--project', file, '--service', 'orders', '--tenant', tenant, '--table', table);
        return r.code === 0 ? r : undefined;
      }, 60_000, 1000).catch(async () => strangler('parity', 'data', '--project', file, '--service', 'orders', '--tenant', tenant, '--table', table));
      expect(equal.out).toMatch(new RegExp(`^EQUAL  ${tenant}: ${table}`, 'm'));
      expect(equal.code).toBe(0);
    }
    // cdc status on the project: the connector streaming, the service's projection listed.
    const status = await strangler('cdc', 'status', '--project', file);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(new RegExp(`strangler-${tenant}\\s+${tenant}\\s+RUNNING\\s+0:RUNNING`));
    expect(status.out).toMatch(/orders-orders-mirror|-orders-mirror/);

    // 6. The scaffold's own parity test, against the running service.
    const ownEnv: NodeJS.ProcessEnv = { ...env, SERVICE_URL: serviceUrl };
    delete ownEnv.JEST_WORKER_ID;
    const own = await run(process.execPath, [path.join(REPO_ROOT, 'node_modules/jest/bin/jest.js'), '--ci', '--colors=false'], ownEnv, path.join(dir, 'extracted', 'orders'));
    expect(own.out).toMatch(/Tests: +2 passed, 2 total/);

    // 7. Flip GET /orders/:id to the service for this tenant: their app no longer sees those reads; the answer is the same.
    const adminEnv = ['--admin-url', `http://127.0.0.1:${admin}`];
    const tokenEnv = { ...env, STRANGLER_ADMIN_TOKEN_FILE: path.join(stateDir, 'proxy', 'admin-token') };
    const routes = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, 'routes', ...args, ...adminEnv], tokenEnv);
    const id = created[0]!;
    const before = await through('GET', `/orders/${id}`);
    const onMonolith = hits.order;
    const set = await routes('set', 'orders-orders', 'extracted', '--tenant', tenant, '--reason', 'e2e: the copy is equal and the parity test passes');
    expect(set).toMatchObject({ code: 0 });
    const after = await eventually(async () => {
      const r = await through('GET', `/orders/${id}`);
      return hits.order === onMonolith ? r : undefined;
    }, 15_000, 200);
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body)).toEqual(JSON.parse(before.body));
    // 8. And back, in one step.
    expect(await routes('rollback', 'orders-orders', '--tenant', tenant, '--reason', 'e2e: back to the monolith')).toMatchObject({ code: 0 });
    await eventually(async () => {
      await through('GET', `/orders/${id}`);
      return hits.order > onMonolith;
    }, 15_000, 200);

    up.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 600_000);
});
