import { Kafka, logLevel } from 'kafkajs';
import { request } from 'undici';
import { ConnectClient, eventTopic, outboxConnectorName, registerOutboxConnector } from '@strangler/cdc';
import { loadEventContracts, startNotifications, type RunningNotifications } from '../extracted/notifications/src';
import fs from 'node:fs';
import path from 'node:path';
import { buildCatalog, formatCatalog } from '@strangler/contracts';
import { eventually, randomName, scratchDatabase, scratchDir, testStack } from './support/env';

const REPO = path.resolve(__dirname, '..');
import { handoverTopology, type HandoverTopology } from './support/handover-topology';

interface EventRecord {
  readonly key: string;
  readonly headers: Record<string, string>;
  readonly payload: Record<string, unknown>;
}

/**
 * Domain events through a transactional outbox: the messaging service, once
 * it owns a tenant's domain, writes `message-posted` and `room-created` into
 * its outbox in the write's own transaction; Debezium's outbox event router
 * publishes each to `<service>.events.<aggregate>`; a second service
 * (notifications) reads those topics only, never the service's tables.
 */
describe('domain events through the outbox', () => {
  let topo: HandoverTopology;
  let notifications: RunningNotifications;
  let ntfDb: Awaited<ReturnType<typeof scratchDatabase>>;
  const records: EventRecord[] = [];
  let stopReader: () => Promise<void> = async () => {};
  const notificationsName = randomName('ntf');

  beforeAll(async () => {
    topo = await handoverTopology({ parityMinSamples: 0 });
    const svc = new URL(topo.serviceDb.url);
    await registerOutboxConnector(new ConnectClient(testStack().connectUrl), { service: topo.service_name, host: svc.hostname, port: Number(svc.port), database: topo.serviceDb.name, user: 'postgres' });
    const topics = [eventTopic(topo.service_name, 'message'), eventTopic(topo.service_name, 'room')];
    ntfDb = await scratchDatabase('ntf');
    notifications = await startNotifications({ databaseUrl: ntfDb.url, brokers: [testStack().kafka], topics, name: notificationsName, port: 0 });
    // A reader of the message topic, as any consumer sees it: key, headers, value.
    const kafka = new Kafka({ clientId: randomName('e2e'), brokers: [testStack().kafka], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: randomName('e2e'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topics[0]!], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));
        records.push({ key: message.key?.toString() ?? '', headers, payload: JSON.parse(message.value!.toString()) });
      },
    });
    stopReader = () => consumer.disconnect();
  }, 300_000);

  afterAll(async () => {
    await stopReader();
    await notifications?.stop();
    if (topo) {
      await new ConnectClient(testStack().connectUrl).deleteConnector(outboxConnectorName(topo.service_name)).catch(() => undefined);
      // The connector's slot holds the service database: dropped once the task has let go of it.
      const slot = `strangler_outbox_${topo.service_name}`;
      await eventually(async () => {
        const r = await topo.svc.raw('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ? AND NOT active', [slot]).catch(() => null);
        const left = await topo.svc.raw('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = ?', [slot]);
        return (r !== null && left.rows[0].n === 0) || undefined;
      }, 20_000, 250).catch(() => undefined);
      await topo.stop();
    }
    await ntfDb?.drop();
  });

  const call = async (tenant: string, method: string, path: string, body?: unknown, extra: Record<string, string> = {}, base = topo.proxy.url) => {
    const res = await request(`${base}${path}`, { method: method as 'POST', headers: { host: `${tenant}.localhost`, ...extra, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : null };
  };

  it('a message posted through the proxy to the service is exactly one message-posted event, decodable by its contract, read by the second consumer; a rolled-back write makes none', async () => {
    const tenant = topo.tenants[0]!.name;
    const owned = await topo.own(tenant, 'service');
    expect([owned.status, owned.body.error ?? null]).toEqual([200, null]);
    const room = await call(tenant, 'POST', '/api/rooms', { name: 'events desk', created_by: 1 });
    expect(room.status).toBe(201);
    const first = await call(tenant, 'POST', `/api/rooms/${room.body.id}/messages`, { author_id: 1, body: 'first, published on commit' });
    expect(first.status).toBe(201);
    // A dry run (the service rolls its transaction back) answers as a write would, and publishes nothing.
    const dry = await call(tenant, 'POST', `/api/rooms/${room.body.id}/messages`, { author_id: 1, body: 'rolled back' }, { 'x-strangler-dry-run': '1', 'x-strangler-tenant': tenant }, topo.service.url);
    expect(dry.status).toBe(201);
    const second = await call(tenant, 'POST', `/api/rooms/${room.body.id}/messages`, { author_id: 2, body: 'second, after the rolled-back one' });
    expect(second.status).toBe(201);

    // Events are in commit order on the aggregate's topic: once the second is there, the first and any rolled-back one would be too.
    await eventually(() => records.some((r) => r.key === String(second.body.id)) || undefined, 60_000, 100);
    const posted = records.filter((r) => r.headers.eventType === 'message-posted');
    expect(posted.map((r) => r.key)).toEqual([String(first.body.id), String(second.body.id)]);
    expect(posted.map((r) => r.payload.body)).not.toContain('rolled back');
    const contract = loadEventContracts().get('message-posted@1')!;
    for (const [i, r] of posted.entries()) {
      expect([contract.validate(r.payload), contract.validate.errors]).toEqual([true, null]);
      expect(r.headers).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), eventType: 'message-posted', eventVersion: '1', tenant });
      // The payload is the message as the API gave it.
      expect(r.payload).toEqual([first, second][i]!.body);
    }

    // The second consumer kept each event once, from the events alone.
    await eventually(async () => ((await call(tenant, 'GET', `/notifications?tenant=${tenant}&limit=10`, undefined, {}, notifications.url)).body.data.length >= 3) || undefined, 30_000, 200);
    const kept = (await call(tenant, 'GET', `/notifications?tenant=${tenant}&limit=10`, undefined, {}, notifications.url)).body.data as Array<{ type: string; aggregateId: string; id: string }>;
    expect(kept.filter((k) => k.type === 'message-posted').map((k) => k.aggregateId).sort()).toEqual([String(first.body.id), String(second.body.id)].sort());
    expect(kept.filter((k) => k.type === 'room-created').map((k) => k.aggregateId)).toEqual([String(room.body.id)]);
    expect(new Set(kept.map((k) => k.id)).size).toBe(kept.length);
    expect(notifications.counts).toMatchObject({ rejected: 0 });

    // The catalog: each event stream with its producer, topic, retention and its consumer's lag (the repository's contracts, on this service's topics).
    const dir = scratchDir('catalog');
    fs.cpSync(path.join(REPO, 'contracts'), dir, { recursive: true });
    for (const f of fs.readdirSync(path.join(dir, 'events'))) {
      const file = path.join(dir, 'events', f);
      const c = JSON.parse(fs.readFileSync(file, 'utf8'));
      fs.writeFileSync(file, JSON.stringify({ ...c, topic: c.topic.replace(/^messaging\./, `${topo.service_name}.`) }));
    }
    fs.writeFileSync(path.join(dir, 'consumers', 'notifications.json'), JSON.stringify({ name: 'notifications', owner: 'extracted/notifications', kind: 'service', events: ['message-posted@1', 'room-created@1'], freshnessMs: 5000, group: `strangler-${notificationsName}` }));
    const admin = new Kafka({ clientId: randomName('e2e'), brokers: [testStack().kafka], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await eventually(async () => {
        const entry = (await buildCatalog(dir, admin)).find((e) => e.stream === 'message-posted@1')!;
        return (entry.consumers[0]?.lag === 0 && entry) || undefined;
      }, 30_000, 500);
      const catalog = await buildCatalog(dir, admin);
      expect(catalog.find((e) => e.stream === 'message-posted@1')).toEqual({
        stream: 'message-posted@1', kind: 'domain event', owner: 'messaging', version: 1, producer: 'extracted/messaging',
        topics: [eventTopic(topo.service_name, 'message')], retentionMs: -1,
        consumers: [{ name: 'notifications', owner: 'extracted/notifications', group: `strangler-${notificationsName}`, freshnessMs: 5000, lag: 0, caughtUp: true }],
      });
      expect(formatCatalog(catalog)).toContain(`message-posted@1 (domain event, v1) owned by messaging, produced by extracted/messaging\n  topics: ${eventTopic(topo.service_name, 'message')}; retention kept for ever\n  consumer notifications (extracted/notifications, group strangler-${notificationsName}): caught up; objective: fresh within 5000 ms`);
      // Table streams list every tenant's topic and the mirror that reads them.
      expect(catalog.find((e) => e.stream === 'public.messages')).toMatchObject({ kind: 'table changes', owner: 'messaging', topics: expect.arrayContaining(topo.tenants.map((t) => `${t.name}.public.messages`)) });
    } finally {
      await admin.disconnect();
    }
  }, 300_000);
});
