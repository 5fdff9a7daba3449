import type { Knex } from 'knex';
import pg from 'pg';
import { kafkaClients, Projector, type ChangeEvent, type Projection } from '@strangler/cdc';
import { eventually as waitUntil, randomName, testStack } from '../../e2e/support/env';
import { streamingTenant, type StreamingTenant } from '../../e2e/support/streaming';
import { BACKSYNC_ORIGIN_PREFIX, fence, fences, MonolithWriter, unfence } from '../src';

const eventually = <T>(fn: () => Promise<T | undefined | false>, timeoutMs = 60_000) => waitUntil(fn, timeoutMs, 200);

/**
 * A monolith writing a table whose domain its service owns, outside the
 * domain's routes: refused inside its database in `enforce` mode (back-sync
 * alone may write), passed and reported as a conflict in `detect` mode (the
 * forward projector does not apply it: the service holds the truth).
 */
describe('the write fence of an owned domain', () => {
  const tenant = randomName('fen');
  let stream: StreamingTenant;
  let mono: Knex;
  const running: Projector[] = [];

  beforeAll(async () => {
    // As on Connect workers without the toolkit's DropOrigin transformation: back-sync's copies reach the topic, and the projector passes over them.
    stream = await streamingTenant(tenant, { dropOrigins: [] });
    mono = stream.src;
    await mono.raw("INSERT INTO users (id, email, display_name) VALUES (1, 'ada@bank.example', 'Ada')");
  });

  afterAll(async () => {
    for (const p of running) await p.stop().catch(() => {});
    await stream?.drop();
    const c = new pg.Client({ connectionString: testStack().pgAdminUrl });
    await c.connect();
    await c.query('SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = $1', [`${BACKSYNC_ORIGIN_PREFIX}_${tenant}`]).catch(() => {});
    await c.end();
  });

  const insertRoom = (db: Knex, id: number) => db('rooms').insert({ id, name: `room ${id}`, created_by: 1 });

  it('enforce: refuses the monolith\'s writes and truncates with a message naming the domain, and lets back-sync write', async () => {
    await fence(stream.source.url, 'messaging', ['rooms', 'messages'], 'enforce');
    expect(await fences(stream.source.url)).toEqual([
      { table: 'public.messages', domain: 'messaging', mode: 'enforce', since: expect.any(String) },
      { table: 'public.rooms', domain: 'messaging', mode: 'enforce', since: expect.any(String) },
    ]);
    const refused = await insertRoom(mono, 1).then(() => null, (err: { code?: string; message: string; hint?: string }) => err);
    expect(refused?.code).toBe('42501');
    expect(refused?.message).toMatch(/strangler fence: public\.rooms belongs to domain messaging, which its service owns; only back-sync writes it/);
    expect(refused?.hint).toMatch(/strangler own messaging --to monolith/);
    expect((await mono.raw('TRUNCATE rooms CASCADE').then(() => null, (err: { code?: string }) => err))?.code).toBe('42501');
    // users is not in the domain: the monolith keeps writing it.
    await mono('users').insert({ id: 2, email: 'bo@bank.example', display_name: 'Bo' });
    // Back-sync writes under its replication origin, and passes.
    const w = await MonolithWriter.open(tenant, stream.source.url);
    try {
      await w.apply([{ op: 'c', before: null, after: { tenant, id: 2, name: 'from the service', created_by: 1 }, key: { id: 2 }, source: { lsn: 1n, commitLsn: 1n, txId: 1, tsMs: Date.now(), snapshot: 'false', db: '', schema: 'public', table: 'rooms', origin: null }, tenant, topic: 't', partition: 0, offset: '0' } as ChangeEvent], 1n, 'tenant');
    } finally {
      await w.close();
    }
    expect((await mono('rooms').where({ id: 2 }).first())?.name).toBe('from the service');
  });

  it('detect: the write passes, the projector does not apply it and reports it as a conflict; back-sync\'s own write is an echo, not a conflict', async () => {
    await fence(stream.source.url, 'messaging', ['rooms', 'messages'], 'detect');
    const applied: ChangeEvent[] = [];
    const conflicts: ChangeEvent[] = [];
    const echoes: ChangeEvent[] = [];
    const recording: Projection = { name: randomName('fwd'), topics: [`${tenant}.public.rooms`, `${tenant}.public.users`], apply: async (events) => void applied.push(...events) };
    const ownership = async (_trx: unknown, t: string) => (t === tenant ? (e: ChangeEvent) => ['rooms', 'messages'].includes(e.source.table) : null);
    const p = new Projector(recording, { kafka: kafkaClients([testStack().kafka], 'fence-test'), db: stream.dst, groupId: randomName('g'), skipOrigins: [BACKSYNC_ORIGIN_PREFIX], ownership, onConflict: (e) => conflicts.push(...e), onSkippedOrigin: (e) => echoes.push(...e) });
    await p.start();
    running.push(p);
    await insertRoom(mono, 3);
    await mono('users').insert({ id: 3, email: 'cy@bank.example', display_name: 'Cy' });
    const ids = (es: ChangeEvent[], table: string) => es.filter((e) => e.source.table === table).map((e) => (e.after ?? e.before)!.id);
    await eventually(async () => ids(conflicts, 'rooms').includes(3) && ids(applied, 'users').includes(3));
    expect(ids(applied, 'rooms')).toEqual([]);
    expect(ids(echoes, 'rooms')).toEqual([2]);
    expect(conflicts.find((e) => e.source.table === 'rooms' && e.after?.id === 3)).toMatchObject({ op: 'c', tenant, source: { origin: null } });
  });

  it('unfence: the monolith owns its tables again, and nothing of the fence is left', async () => {
    await unfence(stream.source.url, ['rooms', 'messages']);
    await insertRoom(mono, 4);
    expect(await fences(stream.source.url)).toEqual([]);
    const triggers = await mono.raw("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'strangler_fence%'");
    expect(triggers.rows).toEqual([]);
  });

  it('refuses to fence a database without the toolkit\'s migrations, saying which to run', async () => {
    await expect(fence(testStack().pgAdminUrl, 'messaging', ['rooms'], 'enforce')).rejects.toMatchObject({ code: 'STR_ERR_OWNERSHIP_CONFIG', message: expect.stringMatching(/run the toolkit's migrations on it first/) });
  });
});
