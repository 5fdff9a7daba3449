import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Knex } from 'knex';
import knexFactory from 'knex';
import pino from 'pino';
import YAML from 'yaml';
import { ConnectClient, registerTenantConnector, removeTenantConnector, waitUntilStreaming } from '@strangler/cdc';
import { BackSyncApplier, backSyncConnectorConfig, backSyncConnectorName, backSyncTopic, type BackSyncOptions } from '@strangler/backsync';
import { kafkaClients } from '@strangler/cdc';
import { startMessaging, type RunningMessaging } from '@strangler/messaging';
import { migrate } from '@strangler/migrations';
import { createApp, createDb } from '@strangler/monolith';
import { ProxyRuntime } from '@strangler/proxy';
import { eventually, randomName, scratchDatabase, scratchDir, testStack } from './env';
import { deleteTenantTopics } from './streaming';

const REPO = path.resolve(__dirname, '..', '..');
export const DOMAIN_ROUTES = ['rooms-list', 'room-create', 'room-get', 'room-write', 'room-members', 'member-write', 'room-messages', 'message-post', 'message-get', 'message-write'];

export interface TopologyTenant {
  readonly name: string;
  readonly db: Awaited<ReturnType<typeof scratchDatabase>>;
  readonly knex: Knex;
  readonly server: Server;
  readonly url: string;
}

export interface HandoverTopology {
  readonly tenants: readonly TopologyTenant[];
  readonly serviceDb: Awaited<ReturnType<typeof scratchDatabase>>;
  readonly svc: Knex;
  readonly service: RunningMessaging;
  readonly proxy: ProxyRuntime;
  readonly configFile: string;
  readonly token: string;
  readonly kafka: string;
  /** Rewrites the proxy's config with the domain's fence mode changed, and waits until the proxy has reloaded it. */
  setFence(mode: 'detect' | 'enforce'): Promise<void>;
  readonly service_name: string;
  /** Back-sync as its own process (`strangler backsync run`), so a test can kill it. */
  startBackSync(): ChildProcess;
  readonly backSyncLog: string[];
  backSync(): ChildProcess | null;
  /** POSTs a hand-over to the proxy's admin API; the JSON answer and its status. */
  own(tenant: string, to: 'service' | 'monolith', extra?: { force?: boolean; reason?: string }): Promise<{ status: number; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

/**
 * The world of a hand-over, over the real stack: two tenants' monoliths
 * (apps and databases, each streamed by its own connector), the messaging
 * service fed by both, back-sync on the service's database, a control store
 * and a proxy whose config declares the messaging domain.
 */
export interface TopologyOptions {
  readonly fence?: 'detect' | 'enforce';
  readonly holdMs?: number;
  readonly parityMinSamples?: number;
  readonly brokers?: { kafka: string; connectUrl: string };
  /** Runs back-sync's applier in this process (a benchmark times it) instead of as `strangler backsync run`. */
  readonly inProcessBackSync?: { onApplied?: BackSyncOptions['onApplied']; onSkipped?: BackSyncOptions['onSkipped'] };
}

export async function handoverTopology(o: TopologyOptions = {}): Promise<HandoverTopology> {
  const kafkaUrl = o.brokers?.kafka ?? testStack().kafka;
  const connectUrl = o.brokers?.connectUrl ?? testStack().connectUrl;
  const connect = new ConnectClient(connectUrl);
  const tenants: TopologyTenant[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  const serviceName = `hs_${Math.random().toString(36).slice(2, 10)}`;
  let child: ChildProcess | null = null;
  const log: string[] = [];
  try {
    for (const prefix of ['ho_a', 'ho_g']) {
      const name = randomName(prefix);
      const db = await scratchDatabase(name);
      await migrate('monolith', db.url);
      await migrate('monolith-cdc', db.url);
      const knex = createDb(db.url, 6);
      const server = createApp({ db: knex, tenant: name }).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const u = new URL(db.url);
      await registerTenantConnector(connect, { tenant: name, host: u.hostname, port: Number(u.port), database: db.name, user: 'postgres' });
      const t = { name, db, knex, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
      tenants.push(t);
      cleanups.push(async () => {
        await new Promise((r) => server.close(r));
        server.closeAllConnections();
        await knex.destroy();
        await removeTenantConnector(connect, name, db.url).catch(() => {});
        await db.drop();
        await deleteTenantTopics([name], kafkaUrl).catch(() => {});
      });
    }
    await Promise.all(tenants.map((t) => waitUntilStreaming(connect, t.name, t.db.url)));
    // Users are the monolith's: each tenant has two, before anything else.
    for (const t of tenants) await t.knex('users').insert([{ email: 'ada@bank.example', display_name: 'Ada' }, { email: 'bo@bank.example', display_name: 'Bo' }]);
    const [serviceDb, controlDb] = await Promise.all([scratchDatabase('hsvcdb'), scratchDatabase('hctl')]);
    cleanups.push(() => serviceDb.drop(), () => controlDb.drop());
    await migrate('control', controlDb.url);
    const service = await startMessaging({ databaseUrl: serviceDb.url, brokers: [kafkaUrl], schemaSourceUrl: tenants[0]!.db.url, port: 0, tenants: tenants.map((t) => t.name), groupId: randomName('hmsg') });
    cleanups.push(() => service.stop());
    const svc = knexFactory({ client: 'pg', connection: serviceDb.url, pool: { min: 0, max: 4 } });
    cleanups.push(() => svc.destroy());
    // The service's copy has the users before any write names one.
    await eventually(async () => Number((await svc.raw('SELECT count(*)::int AS n FROM users')).rows[0].n) === 4, 60_000);

    const dir = scratchDir('handover');
    const token = 'a-long-enough-admin-token-for-tests';
    const configFile = path.join(dir, 'proxy.yaml');
    const route = (id: string, method: string | string[], p: string) => ({ id, match: { method, path: p }, service: 'messaging', mode: 'monolith' });
    fs.writeFileSync(
      configFile,
      YAML.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0, tokens: [{ name: 'ops', role: 'write', token: { value: token } }] },
        controlStore: { url: { value: controlDb.url }, pollMs: 200 },
        tenancy: { byHost: true },
        tenants: Object.fromEntries(tenants.map((t) => [t.name, { monolith: t.url, hosts: [`${t.name}.localhost`], database: { value: t.db.url } }])),
        services: { messaging: { url: service.url, freshness: { path: '/freshness', maxBehindMs: 5000, pollMs: 200 }, dryRunHeader: 'x-strangler-dry-run', database: { value: serviceDb.url } } },
        routes: [
          { id: 'message-search', match: { method: 'GET', path: '/api/messages/search' } },
          route('rooms-list', 'GET', '/api/rooms'),
          route('room-create', 'POST', '/api/rooms'),
          route('room-get', 'GET', '/api/rooms/:id'),
          route('room-write', ['PATCH', 'DELETE'], '/api/rooms/:id'),
          route('room-members', 'GET', '/api/rooms/:id/members'),
          route('member-write', ['PUT', 'DELETE'], '/api/rooms/:id/members/:userId'),
          route('room-messages', 'GET', '/api/rooms/:id/messages'),
          route('message-post', 'POST', '/api/rooms/:id/messages'),
          route('message-get', 'GET', '/api/messages/:id'),
          route('message-write', ['PATCH', 'DELETE'], '/api/messages/:id'),
        ],
        domains: {
          messaging: {
            service: 'messaging',
            tables: ['rooms', 'room_members', 'messages'],
            routes: DOMAIN_ROUTES,
            fence: o.fence ?? 'enforce',
            hold: { maxMs: o.holdMs ?? 3000 },
            timeouts: { guardMs: 3000 },
            parity: { minSamples: o.parityMinSamples ?? 0 },
          },
        },
        readYourWrites: {},
        log: { level: 'warn', access: false },
      }),
    );
    const proxy = await ProxyRuntime.start({ configFile, port: 0, adminPort: 0, logger: pino({ level: process.env.HANDOVER_LOG ?? 'silent' }) });
    cleanups.push(() => proxy.stop(1000));

    const startBackSync = () => {
      child = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'backsync', 'run', '--service', serviceName, '--domain', 'messaging', '--service-db', serviceDb.url, '--table', 'rooms', '--table', 'room_members', '--table', 'messages',
          ...tenants.flatMap((t) => ['--monolith', `${t.name}=${t.db.url}`]), '--kafka', kafkaUrl, '--connect', connectUrl, '--session-timeout', '2000'],
        { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout!.on('data', (c: Buffer) => log.push(c.toString()));
      child.stderr!.on('data', (c: Buffer) => log.push(c.toString()));
      return child;
    };
    let applier: BackSyncApplier | null = null;
    if (o.inProcessBackSync) {
      const u = new URL(serviceDb.url);
      await connect.putConfig(backSyncConnectorName(serviceName), backSyncConnectorConfig({ service: serviceName, host: u.hostname, port: Number(u.port), database: serviceDb.name, user: 'postgres', tables: ['rooms', 'room_members', 'messages'] }));
      applier = new BackSyncApplier({
        service: serviceName,
        domain: 'messaging',
        kafka: kafkaClients([kafkaUrl], 'bench-backsync', { sessionTimeoutMs: 6000 }),
        monoliths: Object.fromEntries(tenants.map((t) => [t.name, t.db.url])),
        ...o.inProcessBackSync,
        onError: (err) => log.push(`backsync: ${(err as Error).message}\n`),
      });
      await applier.start();
      log.push('in-process applier: applying\n');
    }
    cleanups.push(async () => {
      await applier?.stop();
      if (child && child.exitCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child!.once('exit', r));
      }
      await connect.deleteConnector(backSyncConnectorName(serviceName)).catch(() => {});
      await svc.raw('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ? AND NOT active', [`strangler_backsync_${serviceName}`]).catch(() => {});
      await deleteTenantTopics([backSyncTopic(serviceName)], kafkaUrl).catch(() => {});
      const c = knexFactory({ client: 'pg', connection: testStack().pgAdminUrl, pool: { min: 0, max: 1 } });
      await c.raw("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = ANY (?)", [tenants.map((t) => `strangler_backsync_${t.name}`)]).catch(() => {});
      await c.destroy();
    });
    if (!o.inProcessBackSync) startBackSync();
    await eventually(async () => log.join('').includes('applying'), 60_000);
    await eventually(async () => (await svc.raw('SELECT active FROM pg_replication_slots WHERE slot_name = ?', [`strangler_backsync_${serviceName}`])).rows[0]?.active === true, 60_000);

    return {
      tenants,
      serviceDb,
      svc,
      service,
      proxy,
      configFile,
      token,
      kafka: kafkaUrl,
      setFence: async (mode) => {
        const doc = YAML.parse(fs.readFileSync(configFile, 'utf8'));
        doc.domains.messaging.fence = mode;
        fs.writeFileSync(configFile, YAML.stringify(doc));
        const r = await proxy.reload();
        if (!r.ok) throw new Error(`config refused: ${JSON.stringify(r.issues)}`);
      },
      service_name: serviceName,
      startBackSync,
      backSyncLog: log,
      backSync: () => child,
      own: async (tenant, to, extra = {}) => {
        const res = await fetch(`${proxy.adminUrl}/ownership/messaging/${tenant}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to, reason: extra.reason ?? 'e2e hand-over', force: extra.force ?? false }),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      },
      stop: async () => {
        for (const c of cleanups.reverse()) await c().catch(() => {});
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    throw err;
  }
}
