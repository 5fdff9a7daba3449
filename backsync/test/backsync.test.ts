import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { ConnectClient, connectorName, DROP_ORIGIN_TRANSFORM, kafkaClients, originSessions, PROJECTION_ORIGIN_PREFIX, mirrorProjection, Projector, readTableSpec, type ChangeEvent, type Projection } from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { eventually as waitUntil, randomName, scratchDatabase, testStack } from '../../e2e/support/env';
import { deleteTenantTopics, streamingTenant, type StreamingTenant } from '../../e2e/support/streaming';
import { BACKSYNC_ORIGIN_PREFIX, BackSyncApplier, backSyncConnectorConfig, backSyncConnectorName, backSyncTopic, fromLsn, toLsn } from '../src';

const eventually = <T>(fn: () => Promise<T | undefined | false>, timeoutMs = 60_000) => waitUntil(fn, timeoutMs, 200);

/**
 * Back-sync over the real stack: a service database holding the owned
 * tables of every tenant (rooms, messages, with a tenant column), captured
 * by its own Debezium connector into one topic; the applier writes each
 * owned tenant's changes into that tenant's monolith database (the sample's
 * real schema, foreign keys included), in the service's commit order,
 * exactly once, under a replication origin that the monolith's own
 * connector reports, so the forward projector leaves those changes out.
 */
describe('back-sync: the service owns, the monolith follows', () => {
  const connect = new ConnectClient(testStack().connectUrl);
  const kafka = kafkaClients([testStack().kafka], 'backsync-test');
  const acme = randomName('bsa');
  const service = randomName('bss');
  let stream: StreamingTenant;
  let globex: Awaited<ReturnType<typeof scratchDatabase>>;
  let svc: Knex;
  let mono: Knex;
  let other: Knex;
  let applier: BackSyncApplier;
  /** The service's own record of ownership: what a hand-over writes (the applier reads it from the stream, in commit order). */
  let epoch = 0;
  const own = async (tenant: string, owner: 'service' | 'monolith') => {
    epoch++;
    await svc.raw(
      `INSERT INTO strangler.domain_owners (tenant, domain, owner, epoch) VALUES (?, 'messaging', ?, ?)
       ON CONFLICT (tenant, domain) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch, updated_at = now()`,
      [tenant, owner, epoch],
    );
  };
  const running: Array<{ stop(): Promise<void> }> = [];

  beforeAll(async () => {
    stream = await streamingTenant(acme);
    mono = stream.src;
    svc = stream.dst;
    globex = await scratchDatabase('bsg');
    await migrate('monolith', globex.url);
    other = knexFactory({ client: 'pg', connection: globex.url, pool: { min: 0, max: 2 } });
    for (const db of [mono, other]) await db.raw("INSERT INTO users (id, email, display_name) VALUES (1, 'ada@bank.example', 'Ada')");
    // The service's copies of the owned tables, as the generic mirror makes them: (tenant, ...the monolith's columns).
    const tables = await Promise.all(['rooms', 'messages'].map((t) => readTableSpec(stream.source.url, `public.${t}`, t)));
    await mirrorProjection('copies', tables).setup!(svc);
    const u = new URL(stream.target.url);
    await connect.putConfig(backSyncConnectorName(service), backSyncConnectorConfig({ service, host: u.hostname, port: Number(u.port), database: stream.target.name, user: 'postgres', tables: ['rooms', 'messages'], dropOrigins: [PROJECTION_ORIGIN_PREFIX] }));
    await eventually(async () => {
      const s = await connect.status(backSyncConnectorName(service));
      const slot = await svc.raw(`SELECT active FROM pg_replication_slots WHERE slot_name = ?`, [`strangler_backsync_${service}`]);
      return s?.connector.state === 'RUNNING' && s.tasks[0]?.state === 'RUNNING' && slot.rows[0]?.active === true;
    });
    applier = new BackSyncApplier({ service, kafka, monoliths: { [acme]: stream.source.url, globex: globex.url }, domain: 'messaging', groupId: randomName('bsg') });
    await applier.start();
    running.push(applier);
  });

  afterAll(async () => {
    for (const r of running.reverse()) await r.stop().catch(() => {});
    await connect.deleteConnector(backSyncConnectorName(service)).catch(() => {});
    await svc?.raw('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ? AND NOT active', [`strangler_backsync_${service}`]).catch(() => {});
    await other?.destroy();
    await globex?.drop();
    await stream?.drop();
    await deleteTenantTopics([`strangler.backsync.${service}`]).catch(() => {});
    const c = new pg.Client({ connectionString: testStack().pgAdminUrl });
    await c.connect();
    await c.query("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = $1 OR roname = 'strangler_backsync_globex'", [`${BACKSYNC_ORIGIN_PREFIX}_${acme}`]).catch(() => {});
    await c.end();
  });

  // Every column, as the service writes its rows (its copies carry no defaults of their own).
  const at = '2026-12-07T10:00:00.123456Z';
  const room = (tenant: string, id: number, name: string) => ({ tenant, id, name, kind: 'group', tags: ['fx', 'desk'], settings: JSON.stringify({ muted: false }), created_by: 1, created_at: at, updated_at: at });
  const message = (tenant: string, id: number, roomId: number, body: string) => ({
    tenant, id, room_id: roomId, author_id: 1, body, format: 'plain', attachments: JSON.stringify([{ name: 'deal.pdf' }]), amount: '1250.10', currency: 'CHF', edit_count: 0, created_at: at, updated_at: at,
  });
  const roomIn = async (db: Knex, id: number) => (await db('rooms').where({ id }).first()) as { name: string } | undefined;

  it('writes an owned tenant\'s transaction into its monolith, across tables in commit order (foreign keys hold), and never a tenant the service does not own', async () => {
    await own(acme, 'service');
    await svc.transaction(async (trx) => {
      await trx('rooms').insert(room(acme, 500, 'FX desk'));
      await trx('messages').insert(message(acme, 900, 500, 'Please confirm'));
      await trx('rooms').insert(room('globex', 500, 'not owned'));
    });
    await eventually(async () => (await mono('messages').where({ id: 900 }).first())?.body === 'Please confirm');
    expect(await roomIn(mono, 500)).toMatchObject({ name: 'FX desk', created_by: 1, tags: ['fx', 'desk'], settings: { muted: false } });
    expect(((await mono.raw("SELECT created_at::text AS t FROM rooms WHERE id = 500")).rows[0] as { t: string }).t).toBe('2026-12-07 10:00:00.123456+00');
    expect(await mono('messages').where({ id: 900 }).first()).toMatchObject({ room_id: 500, amount: '1250.10', currency: 'CHF' });
    expect(await roomIn(other, 500)).toBeUndefined();
    // Updates and deletes too.
    await svc('messages').where({ tenant: acme, id: 900 }).update({ body: 'Confirmed' });
    await svc('rooms').insert(room(acme, 501, 'to delete'));
    await svc('rooms').where({ tenant: acme, id: 501 }).delete();
    await svc('rooms').insert(room(acme, 502, 'marker 1'));
    await eventually(async () => (await roomIn(mono, 502)) !== undefined);
    expect((await mono('messages').where({ id: 900 }).first()).body).toBe('Confirmed');
    expect(await roomIn(mono, 501)).toBeUndefined();
  });

  it("never reaches the monolith's topic (the connector drops back-sync's origin before Kafka): a projector with no filter at all gets only the monolith's own writes", async () => {
    // The stack's Connect workers have the toolkit's transformation, so registering put it on the connector.
    expect(await stream.connect.getConfig(connectorName(acme))).toMatchObject({ 'transforms.dropOrigin.type': DROP_ORIGIN_TRANSFORM, 'transforms.dropOrigin.origin.prefixes': BACKSYNC_ORIGIN_PREFIX });
    const seen = { filtered: [] as ChangeEvent[], unfiltered: [] as ChangeEvent[], skipped: [] as ChangeEvent[] };
    const recording = (name: string, into: ChangeEvent[]): Projection => ({ name, topics: [`${acme}.public.rooms`], apply: async (events) => void into.push(...events) });
    const filtered = new Projector(recording(randomName('fwd'), seen.filtered), { kafka, db: svc, groupId: randomName('g'), skipOrigins: [BACKSYNC_ORIGIN_PREFIX], onSkippedOrigin: (e) => seen.skipped.push(...e) });
    const unfiltered = new Projector(recording(randomName('raw'), seen.unfiltered), { kafka, db: svc, groupId: randomName('g') });
    for (const p of [filtered, unfiltered]) {
      await p.start();
      running.push(p);
    }
    // A write of the monolith's own, after back-sync's (rooms 500, 501 and its delete, 502: in the monolith's table, see above).
    await mono('rooms').insert({ id: 600, name: "the monolith's own", created_by: 1 });
    const ids = (es: ChangeEvent[]) => es.map((e) => (e.after ?? e.before)!.id as number);
    await eventually(async () => ids(seen.filtered).includes(600) && ids(seen.unfiltered).includes(600));
    expect(ids(seen.unfiltered)).toEqual([600]);
    expect(ids(seen.filtered)).toEqual([600]);
    expect(seen.skipped).toEqual([]);
    expect(seen.unfiltered[0]!.source.origin).toBeNull();
    // Nothing else on the topic: no copy of 500, 501 (its delete, nor the tombstone after it) or 502.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(`${acme}.public.rooms`);
      expect(offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0)).toBe(1);
    } finally {
      await admin.disconnect();
    }
  });

  it("the other way too: a projector's copies (its sessions under replication origins) never reach back-sync's topic, the service's own writes do", async () => {
    const warnings: string[] = [];
    // Origins of this test's own (under the prefix the connector drops), so that projectors of other tests running now hold none of them.
    const prefix = `${PROJECTION_ORIGIN_PREFIX}_${randomName('t')}`;
    const projectorDb = knexFactory({ client: 'pg', connection: stream.target.url, pool: { min: 0, max: 1, afterCreate: originSessions(prefix, (w) => warnings.push(w)) } });
    try {
      // acme is the service's: were the copy on the topic, back-sync would write it into acme's monolith.
      await projectorDb('rooms').insert(room(acme, 700, 'a copy the projector wrote'));
      await svc('rooms').insert(room(acme, 701, "the service's own"));
      await eventually(async () => (await roomIn(mono, 701)) !== undefined);
      expect(await roomIn(mono, 700)).toBeUndefined();
      expect(warnings).toEqual([]);
    } finally {
      await projectorDb.destroy();
      // Each origin set up keeps one of the server's origin states until dropped.
      await svc.raw("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE ? || '\\_%'", [prefix]).catch(() => {});
    }
  });

  it('applies each change once: a redelivery from the start skips what the origin\'s progress covers', async () => {
    await mono('rooms').where({ id: 500 }).update({ name: 'edited in the monolith later' });
    await applier.stop();
    // A fresh group reads the topic from its first event again.
    const again = new BackSyncApplier({ service, kafka, monoliths: { [acme]: stream.source.url, globex: globex.url }, domain: 'messaging', groupId: randomName('bsg') });
    await again.start();
    running.push(again);
    await svc('rooms').insert(room(acme, 503, 'marker 2'));
    await eventually(async () => (await roomIn(mono, 503)) !== undefined);
    expect((await roomIn(mono, 500))!.name).toBe('edited in the monolith later');
    expect(await roomIn(mono, 501)).toBeUndefined();
    // The origin's progress is the topic position after the last applied change.
    const c = new pg.Client({ connectionString: stream.source.url });
    await c.connect();
    const p = await c.query<{ lsn: string }>('SELECT remote_lsn::text AS lsn FROM pg_replication_origin_status WHERE external_id = $1', [`${BACKSYNC_ORIGIN_PREFIX}_${acme}`]);
    await c.end();
    expect(fromLsn(p.rows[0]!.lsn)).toBeGreaterThan(0n);
  });

  it('carries nothing while the monolith owns the tenant, for good: not even when the topic is read again from its start once the service owns it', async () => {
    for (const r of running.splice(0)) await r.stop();
    const skipped: number[] = [];
    const watching = new BackSyncApplier({ service, kafka, monoliths: { [acme]: stream.source.url, globex: globex.url }, domain: 'messaging', groupId: randomName('bsg'), onSkipped: (_t, events) => void skipped.push(...events.map((e) => Number((e.after ?? e.before)!.id))) });
    await watching.start();
    running.push(watching);
    await own(acme, 'monolith');
    await svc('rooms').insert(room(acme, 504, 'while the monolith owns'));
    await svc('rooms').insert(room(acme, 505, 'while the monolith owns, too'));
    await eventually(async () => skipped.includes(504) && skipped.includes(505));
    expect(await roomIn(mono, 504)).toBeUndefined();
    // The service owns the tenant again, and a fresh group reads the whole topic before anything new is applied.
    for (const r of running.splice(0)) await r.stop();
    await own(acme, 'service');
    const again = new BackSyncApplier({ service, kafka, monoliths: { [acme]: stream.source.url, globex: globex.url }, domain: 'messaging', groupId: randomName('bsg') });
    await again.start();
    running.push(again);
    await svc('rooms').insert(room(acme, 506, 'owned again'));
    await eventually(async () => (await roomIn(mono, 506)) !== undefined);
    expect(await roomIn(mono, 504)).toBeUndefined();
    expect(await roomIn(mono, 505)).toBeUndefined();
    // Where back-sync stands is written with its progress: the owner and epoch in force at the point applied.
    expect((await mono.raw("SELECT owner, epoch FROM strangler.backsync_state WHERE domain = 'messaging'")).rows[0]).toEqual({ owner: 'service', epoch: String(epoch) });
  });

  it('names one topic and writes positions as LSNs both ways', () => {
    expect(backSyncTopic('messaging')).toBe('strangler.backsync.messaging');
    for (const n of [0n, 1n, 4294967295n, 4294967296n, 123456789012n]) expect(fromLsn(toLsn(n))).toBe(n);
    expect(toLsn(4294967297n)).toBe('1/1');
  });
});
