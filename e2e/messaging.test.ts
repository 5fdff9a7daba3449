import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import type { Knex } from 'knex';
import pino from 'pino';
import request from 'supertest';
import YAML from 'yaml';
import fs from 'node:fs';
import path from 'node:path';
import { ConnectClient, connectorName, kafkaClients, registerTenantConnector, removeTenantConnector, replay, waitUntilStreaming } from '@strangler/cdc';
import { messagingProjection, startMessaging, type RunningMessaging } from '@strangler/messaging';
import { migrate } from '@strangler/migrations';
import { createApp, createDb } from '@strangler/monolith';
import { ProxyRuntime } from '@strangler/proxy';
import { runTraffic, writeDemoProxyConfig, type StackConfig } from '@strangler/stack';
import { eventually, randomName, scratchDatabase, scratchDir, testStack } from './support/env';
import { deleteTenantTopics } from './support/streaming';

interface Tenant {
  name: string;
  db: Awaited<ReturnType<typeof scratchDatabase>>;
  knex: Knex;
  server: Server;
  url: string;
}

/**
 * The extracted messaging service, fed by every tenant's CDC stream, answers
 * the rooms and messages reads exactly as each tenant's monolith does, and
 * the proxy can flip those routes to it.
 */
describe('extracted messaging service', () => {
  const connect = new ConnectClient(testStack().connectUrl);
  const tenants: Tenant[] = [];
  let serviceDb: Awaited<ReturnType<typeof scratchDatabase>>;
  let controlDb: Awaited<ReturnType<typeof scratchDatabase>>;
  let service: RunningMessaging;
  const groupId = randomName('messaging');

  beforeAll(async () => {
    for (const prefix of ['bank_c', 'bank_d']) {
      const name = randomName(prefix);
      const db = await scratchDatabase(name);
      await migrate('monolith', db.url);
      await migrate('monolith-cdc', db.url);
      const knex = createDb(db.url, 4);
      const server = createApp({ db: knex, tenant: name }).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const pg = new URL(db.url);
      await registerTenantConnector(connect, { tenant: name, host: pg.hostname, port: Number(pg.port), database: db.name, user: 'postgres' });
      tenants.push({ name, db, knex, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    }
    await Promise.all(tenants.map((t) => waitUntilStreaming(connect, t.name, t.db.url)));
    [serviceDb, controlDb] = await Promise.all([scratchDatabase('svc'), scratchDatabase('ctl')]);
    await migrate('control', controlDb.url);
    service = await startMessaging({
      databaseUrl: serviceDb.url,
      brokers: [testStack().kafka],
      schemaSourceUrl: tenants[0]!.db.url,
      port: 0,
      tenants: tenants.map((t) => t.name),
      groupId,
    });
  });

  afterAll(async () => {
    await service?.stop();
    for (const t of tenants) {
      await new Promise((r) => t.server.close(r));
      await t.knex.destroy();
      await removeTenantConnector(connect, t.name, t.db.url).catch(() => {});
      await t.db.drop();
    }
    await serviceDb?.drop();
    await controlDb?.drop();
    await deleteTenantTopics(tenants.map((t) => t.name));
  });

  async function seed(t: Tenant, n: number) {
    const api = request(t.url);
    const owner = await api.post('/api/users').send({ email: `owner.${t.name}@bank.example`, display_name: 'Owner' }).expect(201);
    const other = await api.post('/api/users').send({ email: `other.${t.name}@bank.example`, display_name: 'Other' }).expect(201);
    const rooms: number[] = [];
    for (let r = 0; r < 3; r++) {
      const room = await api.post('/api/rooms').send({ name: `${t.name} room ${r}`, created_by: owner.body.id, tags: ['fx', `r${r}`], settings: { retention_days: 30 + r } }).expect(201);
      rooms.push(room.body.id);
      await api.put(`/api/rooms/${room.body.id}/members/${other.body.id}`).send({ role: 'observer' }).expect(201);
      for (let m = 0; m < n; m++) {
        await api
          .post(`/api/rooms/${room.body.id}/messages`)
          .send({ author_id: m % 2 ? owner.body.id : other.body.id, body: `${t.name} message ${m} in room ${r}`, amount: `${m * 100}.${m % 10}5`, currency: 'CHF', attachments: m % 3 ? [] : [{ name: 'deal.pdf', size: 1024, content_type: 'application/pdf' }] })
          .expect(201);
      }
    }
    await api.patch('/api/messages/2').send({ body: 'edited' }).expect(200);
    await api.delete('/api/messages/3').expect(204);
    await api.patch(`/api/rooms/${rooms[2]}`).send({ archived: true }).expect(200);
    return rooms;
  }

  const paths = (rooms: number[]) => [
    '/api/rooms',
    '/api/rooms?include_archived=true&limit=2',
    '/api/rooms?include_archived=true&limit=2&offset=2',
    `/api/rooms/${rooms[0]}`,
    `/api/rooms/${rooms[1]}/members`,
    `/api/rooms/${rooms[0]}/messages`,
    `/api/rooms/${rooms[0]}/messages?include_deleted=true&limit=3&offset=1`,
    '/api/messages/1',
    '/api/messages/2',
    '/api/messages/3',
    '/api/rooms/999',
    '/api/rooms/abc',
    '/api/rooms?limit=1000',
  ];

  it('answers every taken-over read exactly as each tenant monolith does, for every tenant from one database', async () => {
    const rooms = await Promise.all(tenants.map((t) => seed(t, 8)));
    for (const [i, t] of tenants.entries()) {
      for (const p of paths(rooms[i]!)) {
        const legacy = await request(t.url).get(p);
        const deadline = Date.now() + 60_000;
        let now = await request(service.url).get(p).set('x-strangler-tenant', t.name);
        while (JSON.stringify([now.status, now.body]) !== JSON.stringify([legacy.status, legacy.body]) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          now = await request(service.url).get(p).set('x-strangler-tenant', t.name);
        }
        expect({ path: p, status: now.status, body: now.body }).toEqual({ path: p, status: legacy.status, body: legacy.body });
      }
    }
    // Same ids, different tenants: each sees its own rows only.
    const a = await request(service.url).get('/api/messages/1').set('x-strangler-tenant', tenants[0]!.name);
    const b = await request(service.url).get('/api/messages/1').set('x-strangler-tenant', tenants[1]!.name);
    expect(a.body.body).toContain(tenants[0]!.name);
    expect(b.body.body).toContain(tenants[1]!.name);
    const position = await request(service.url).get('/position').set('x-strangler-tenant', tenants[0]!.name).expect(200);
    expect(position.body.tables.map((x: { topic: string }) => x.topic).sort()).toEqual(
      [...['messages', 'room_members', 'rooms', 'users'].map((tb) => `${tenants[0]!.name}.public.${tb}`), `${tenants[0]!.name}.strangler.cdc_heartbeat`],
    );
    expect((await request(service.url).get('/api/rooms')).body.error.code).toBe('tenant_required');
    const metrics = (await request(service.url).get('/metrics').expect(200)).text;
    expect(metrics).toMatch(new RegExp(`strangler_projection_consumer_lag\\{projection="messaging-mirror",topic="${tenants[0]!.name}.public.messages",partition="0",tenant="${tenants[0]!.name}"\\} 0`));
    expect(metrics).toMatch(/strangler_projection_end_to_end_lag_seconds\{/);
    expect(metrics).toMatch(new RegExp(`strangler_projection_behind_seconds\\{projection="messaging-mirror",topic="${tenants[0]!.name}.public.messages",partition="0",tenant="${tenants[0]!.name}"\\} 0`));
    expect(metrics).toMatch(new RegExp(`strangler_projection_tenant_loading\\{projection="messaging-mirror",tenant="${tenants[0]!.name}"\\} 0`));
    // The proxy's freshness check reads this: every tenant, caught up.
    const freshness = (await request(service.url).get('/freshness').expect(200)).body;
    expect(freshness.tenants).toEqual(tenants.map((t) => ({ tenant: t.name, behindMs: expect.any(Number), pending: 0, loading: false, appliedThrough: expect.any(String), appliedLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/), heartbeatAt: expect.any(String) })).sort((x, y) => x.tenant.localeCompare(y.tenant)));
    for (const t of freshness.tenants) expect(t.behindMs).toBeLessThan(3_000);
  });

  it('says in /freshness that a tenant\'s capture stalled (its connector paused: no heartbeat), and that it caught up once resumed', async () => {
    const [steady, paused] = tenants;
    const behind = async () => {
      const r = (await request(service.url).get('/freshness').expect(200)).body as { tenants: Array<{ tenant: string; behindMs: number }> };
      return Object.fromEntries(r.tenants.map((t) => [t.tenant, t.behindMs]));
    };
    await connect.pause(connectorName(paused!.name));
    try {
      // The last heartbeat ages: one interval (5 s) after it, the tenant counts as behind by the rest.
      await eventually(async () => (await behind())[paused!.name]! > 4_000, 40_000, 500);
      expect((await behind())[steady!.name]).toBeLessThan(3_000);
    } finally {
      await connect.resume(connectorName(paused!.name));
    }
    await eventually(async () => (await behind())[paused!.name]! < 3_000, 60_000, 500);
  });

  it("keeps tenants apart: tenant B asking for tenant A's room or message gets 404, and nothing answers without a tenant", async () => {
    const [a, b] = [tenants[0]!, tenants[1]!];
    const owner = await request(a.url).post('/api/users').send({ email: `iso.${a.name}@bank.example`, display_name: 'Iso' }).expect(201);
    const room = await request(a.url).post('/api/rooms').send({ name: 'only in A', created_by: owner.body.id }).expect(201);
    const msg = await request(a.url).post(`/api/rooms/${room.body.id}/messages`).send({ author_id: owner.body.id, body: 'A only' }).expect(201);
    await eventually(async () => (await request(service.url).get(`/api/messages/${msg.body.id}`).set('x-strangler-tenant', a.name)).status === 200, 60_000, 200);
    expect((await request(service.url).get(`/api/rooms/${room.body.id}`).set('x-strangler-tenant', a.name)).body.name).toBe('only in A');
    for (const p of [`/api/rooms/${room.body.id}`, `/api/rooms/${room.body.id}/messages`, `/api/rooms/${room.body.id}/members`, `/api/messages/${msg.body.id}`]) {
      const r = await request(service.url).get(p).set('x-strangler-tenant', b.name);
      expect({ p, status: r.status, code: r.body.error?.code }).toEqual({ p, status: 404, code: 'not_found' });
      const none = await request(service.url).get(p);
      expect({ p, status: none.status, code: none.body.error?.code }).toEqual({ p, status: 400, code: 'tenant_required' });
    }
  });

  it('rebuilds its tables from the beginning beside the live ones and swaps them in, while serving and while writes go on', async () => {
    const oid = async () => (await service.db.raw("SELECT 'public.messages'::regclass::oid AS oid")).rows[0].oid;
    const before = await oid();
    const t = tenants[0]!;
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing) {
        await request(t.url).post('/api/rooms/1/messages').send({ author_id: 1, body: `during the rebuild ${n++}` }).expect(201);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const served: number[] = [];
    const reader = (async () => {
      while (writing) {
        served.push((await request(service.url).get('/api/rooms/1/messages?limit=1').set('x-strangler-tenant', t.name)).status);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const phases: string[] = [];
    const result = await replay(await messagingProjection(t.db.url, tenants.map((x) => x.name)), {
      kafka: kafkaClients([testStack().kafka], 'replay-test'),
      db: service.db,
      liveGroupId: groupId,
      from: 'earliest',
      rebuild: true,
      onProgress: (p) => phases.push(p.phase),
    });
    writing = false;
    await Promise.all([writer, reader]);
    expect(phases).toContain('done');
    expect(result.applied).toBeGreaterThan(50);
    expect(await oid()).not.toBe(before); // the tables were swapped
    expect(served.every((s) => s === 200)).toBe(true); // never stopped serving
    // After the swap the live projection goes on into the new tables: everything equals the monolith.
    for (const p of ['/api/rooms/1/messages?include_deleted=true&limit=200', '/api/rooms', '/api/messages/2']) {
      const legacy = await request(t.url).get(p);
      const deadline = Date.now() + 30_000;
      let now = await request(service.url).get(p).set('x-strangler-tenant', t.name);
      while (JSON.stringify(now.body) !== JSON.stringify(legacy.body) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        now = await request(service.url).get(p).set('x-strangler-tenant', t.name);
      }
      expect(now.body).toEqual(legacy.body);
    }
    const leftovers = await service.db.raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%' OR nspname LIKE 'retired_%'");
    expect(leftovers.rows).toEqual([]);
  });

  it('resumes a rebuild that was stopped half-way, from where it got to', async () => {
    const t = tenants[0]!;
    const projection = await messagingProjection(t.db.url, tenants.map((x) => x.name));
    const options = { kafka: kafkaClients([testStack().kafka], 'replay-test'), db: service.db, liveGroupId: groupId, from: 'earliest' as const, rebuild: true };
    const stop = new AbortController();
    const first = replay(projection, { ...options, signal: stop.signal, onProgress: (p) => p.applied > 0 && stop.abort() });
    await expect(first).rejects.toThrow(/replay stopped before it caught up.*resumes where it stopped/);
    const kept = await service.db.raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%'");
    expect(kept.rows).toHaveLength(1);
    const second = await replay(projection, options);
    expect(second.resumed).toBe(true);
    const leftovers = await service.db.raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%' OR nspname LIKE 'retired_%'");
    expect(leftovers.rows).toEqual([]);
    const legacy = await request(t.url).get('/api/rooms?include_archived=true');
    expect((await request(service.url).get('/api/rooms?include_archived=true').set('x-strangler-tenant', t.name)).body).toEqual(legacy.body);
  });

  it('rebuilds from a Debezium snapshot when the topics no longer hold the history', async () => {
    const names = tenants.map((x) => x.name);
    const admin = new Kafka({ brokers: [testStack().kafka], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      // Retention took everything written so far.
      for (const topic of (await admin.listTopics()).filter((x) => names.some((n) => x.startsWith(`${n}.public.`)))) {
        // kafkajs 2.2.4 fails on offset '-1' (KafkaJSBrokerNotFound): the high watermark, given explicitly, works.
        await admin.deleteTopicRecords({ topic, partitions: (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.high })) });
      }
    } finally {
      await admin.disconnect();
    }
    const t = tenants[1]!;
    await request(t.url).post('/api/rooms/1/messages').send({ author_id: 1, body: 'after the history was lost' }).expect(201);
    const oid = async () => (await service.db.raw("SELECT 'public.rooms'::regclass::oid AS oid")).rows[0].oid;
    const before = await oid();
    const phases: string[] = [];
    const result = await replay(await messagingProjection(t.db.url, names), {
      kafka: kafkaClients([testStack().kafka], 'replay-test'),
      db: service.db,
      liveGroupId: groupId,
      from: 'snapshot',
      rebuild: true,
      sourceUrl: (tenant) => tenants.find((x) => x.name === tenant)!.db.url,
      onProgress: (p) => phases.push(p.phase),
    });
    expect(phases.at(-1)).toBe('done');
    expect(await oid()).not.toBe(before);
    // Every row came back from the snapshot alone (the topics held none of the old ones).
    expect(result.applied).toBeGreaterThanOrEqual(2 * 3 * 8);
    for (const x of tenants) {
      for (const p of ['/api/rooms?include_archived=true', '/api/rooms/1/messages?include_deleted=true&limit=200', '/api/rooms/2/members']) {
        const legacy = await request(x.url).get(p);
        await eventually(async () => JSON.stringify((await request(service.url).get(p).set('x-strangler-tenant', x.name)).body) === JSON.stringify(legacy.body), 30_000, 250).catch(() => undefined);
        expect((await request(service.url).get(p).set('x-strangler-tenant', x.name)).body).toEqual(legacy.body);
      }
    }
    await expect(replay(await messagingProjection(t.db.url, names), { kafka: kafkaClients([testStack().kafka], 'replay-test'), db: service.db, liveGroupId: groupId, from: 'snapshot', rebuild: false })).rejects.toThrow(/add --rebuild/);
  });

  /** A proxy in front of every tenant's monolith and the service, on a config file of its own (`extra` adds or replaces top-level keys). */
  async function proxyOver(name: string, extra: Record<string, unknown>): Promise<ProxyRuntime> {
    const file = path.join(scratchDir(name), 'proxy.yaml');
    const config = {
      listen: { port: 0 },
      admin: { port: 0, tokens: [{ name: 'ops', role: 'write', token: { value: 'e2e-token-0123456789' } }] },
      controlStore: { url: { value: controlDb.url } },
      tenants: Object.fromEntries(tenants.map((t) => [t.name, { monolith: t.url, hosts: [`${t.name}.localhost`] }])),
      services: { messaging: { url: service.url } },
      log: { level: 'silent', access: false },
    };
    fs.writeFileSync(file, YAML.stringify({ ...config, ...extra }));
    return ProxyRuntime.start({ configFile: file, logger: pino({ level: 'silent' }) });
  }

  it('takes a route over when the proxy flips it, with the same answer', async () => {
    const proxy = await proxyOver('e2e', { routes: [{ id: 'room-messages', match: { method: 'GET', path: '/api/rooms/:id/messages' }, service: 'messaging', mode: 'monolith' }] });
    try {
      const t = tenants[1]!;
      const via = () => request(proxy.url).get('/api/rooms/1/messages').set('host', `${t.name}.localhost`);
      const before = await via();
      await proxy.setMode('room-messages', t.name, { mode: 'extracted' }, 'e2e', 'take the reads over');
      const after = await via();
      expect(after.status).toBe(200);
      expect(after.body).toEqual(before.body);
      expect(proxy.metrics).toBeTruthy();
      const metrics = await proxy.metrics.render();
      expect(metrics).toMatch(new RegExp(`strangler_proxy_requests_total\\{route="room-messages",target="extracted",tenant="${t.name}",code="2xx"\\} 1`));
    } finally {
      await proxy.stop(1000);
    }
  });

  it('lets a client read at once what it wrote through the proxy (read-your-writes), and reads from the service again once the service has applied it', async () => {
    const t = tenants[1]!;
    const proxy = await proxyOver('ryw', {
      services: { messaging: { url: service.url, freshness: { maxBehindMs: 5000, pollMs: 100 } } },
      routes: [{ id: 'room-get', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith', tenants: { [t.name]: { mode: 'extracted' } } }],
      readYourWrites: {},
    });
    const host = `${t.name}.localhost`;
    const served = async (target: string) => Number(new RegExp(`strangler_proxy_requests_total\\{route="room-get",target="${target}",tenant="${t.name}",code="2xx"\\} (\\d+)`).exec(await proxy.metrics!.render())?.[1] ?? 0);
    try {
      const writer = await request(proxy.url).post('/api/users').set('host', host).send({ email: `writer.${t.name}@bank.example`, display_name: 'Writer' }).expect(201);
      let mark = '';
      let last = 0;
      for (let i = 0; i < 10; i++) {
        // Created through the proxy (the monolith), read back through it at once, as a browser would: with the cookie the write set.
        const created = await request(proxy.url).post('/api/rooms').set('host', host).set('cookie', mark).send({ name: `read back ${i}`, created_by: writer.body.id }).expect(201);
        mark = ([created.headers['set-cookie']].flat() as string[]).find((c) => c.startsWith('strangler-written='))!.split(';')[0]!;
        const back = await request(proxy.url).get(`/api/rooms/${created.body.id}`).set('host', host).set('cookie', mark);
        expect(back.status).toBe(200);
        expect(back.body).toEqual(created.body);
        last = created.body.id;
      }
      expect(await proxy.metrics!.render()).toMatch(new RegExp(`strangler_proxy_fallbacks_total\\{route="room-get",service="messaging",reason="unapplied_write"\\} [1-9]`));
      // The service applies the writes (and a heartbeat after them): the writer's reads go to it again, the same answer.
      const before = await served('extracted');
      await eventually(async () => (await request(proxy.url).get(`/api/rooms/${last}`).set('host', host).set('cookie', mark)).status === 200 && (await served('extracted')) > before, 20_000);
    } finally {
      await proxy.stop(1000);
    }
  });

  it('runs the demo: traffic through a proxy on the demo config fills shadow parity, captures a corpus, and the corpus replays as passing', async () => {
    const dir = scratchDir('demo');
    const files = { dir, config: path.join(dir, 'proxy.yaml'), token: path.join(dir, 'admin-token') };
    const servicePort = Number(new URL(service.url).port);
    writeDemoProxyConfig(files, { ports: { proxy: 0, proxyAdmin: 0, extractedBase: servicePort } } as StackConfig, Object.fromEntries(tenants.map((t) => [t.name, { url: t.url, databaseUrl: t.db.url }])), controlDb.url, serviceDb.url);
    const rt = await ProxyRuntime.start({ configFile: files.config, port: 0, adminPort: 0, logger: pino({ level: 'silent' }) });
    const lines: string[] = [];
    try {
      const { passed } = await runTraffic({
        proxyUrl: rt.url,
        adminUrl: rt.adminUrl,
        token: fs.readFileSync(files.token, 'utf8').trim(),
        tenants: tenants.map((t) => t.name),
        rate: 40,
        seconds: 12,
        configFile: files.config,
        reportDir: path.join(dir, 'reports'),
        log: (l) => lines.push(l),
      });
      expect(passed ? 'passed' : `not passed:\n${lines.join('\n')}`).toBe('passed'); // the demo's own output when it did not pass
      expect(lines.join('\n')).toMatch(new RegExp(`room-get\\[${tenants[0]!.name}\\] [1-9]\\d* compared, 0 mismatched`));
      expect(lines.join('\n')).toMatch(/\nPASS {2}(\d+) compared, \1 match, 0 filtered, 0 mismatch, 0 errors/);
      expect(fs.existsSync(path.join(dir, 'corpus.jsonl'))).toBe(true);
      expect(fs.existsSync(path.join(dir, 'reports', tenants[0]!.name, 'parity-report.html'))).toBe(true);
    } finally {
      await rt.stop(1000);
    }
  }, 120_000);
});
