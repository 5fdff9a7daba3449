import type { Knex } from 'knex';
import { eventually } from './env';

/** The monolith tables the fault tests write to and compare. */
export const LOAD_TABLES = ['users', 'rooms', 'room_members', 'messages'] as const;

export interface WriteLoad {
  /** What the load committed, per `<table>:<op>`. */
  readonly counts: Map<string, number>;
  /** Transactions committed so far. */
  committed(): number;
  /** Stops after the transaction in flight; rejects if the load failed. */
  stop(): Promise<void>;
}

/**
 * A steady mix of inserts, updates and deletes in a tenant's monolith
 * database (a transaction every ~10 ms), counting what it committed per
 * table and op (only what committed). A failed transaction ends the load:
 * `stop()` rejects with its error.
 */
export function writeLoad(src: Knex, tenant: string): WriteLoad {
  const counts = new Map<string, number>();
  const count = (table: string, op: string, n = 1) => counts.set(`${table}:${op}`, (counts.get(`${table}:${op}`) ?? 0) + n);
  let running = true;
  let seq = 0;
  let committed = 0;
  const loop = (async () => {
    const [user] = await src('users').insert({ display_name: 'Load', email: `load@${tenant}.test` }).returning('id');
    count('users', 'c');
    const [room] = await src('rooms').insert({ name: 'load', kind: 'group', created_by: user.id }).returning('id');
    count('rooms', 'c');
    while (running) {
      seq++;
      const local = new Map<string, number>();
      const add = (table: string, op: string, n = 1) => local.set(`${table}:${op}`, (local.get(`${table}:${op}`) ?? 0) + n);
      await src.transaction(async (trx) => {
        const ids = await trx('messages')
          .insert(Array.from({ length: 5 }, (_, i) => ({ room_id: room.id, author_id: user.id, body: `m${seq}.${i}`, amount: i % 2 ? `${seq}.${i}0` : null, currency: i % 2 ? 'EUR' : null })))
          .returning('id');
        add('messages', 'c', ids.length);
        if (seq % 3 === 0) {
          await trx('messages').where({ id: ids[0].id }).update({ body: `edited ${seq}`, edit_count: trx.raw('edit_count + 1') });
          add('messages', 'u');
        }
        if (seq % 5 === 0) {
          await trx('messages').where({ id: ids[1].id }).delete();
          add('messages', 'd');
        }
        if (seq % 10 === 0) {
          const [u] = await trx('users').insert({ display_name: `User ${seq}`, email: `u${seq}@${tenant}.test`, profile: { seq } }).returning('id');
          await trx('room_members').insert({ room_id: room.id, user_id: u.id, role: 'member' });
          await trx('rooms').where({ id: room.id }).update({ topic: `topic ${seq}` });
          add('users', 'c');
          add('room_members', 'c');
          add('rooms', 'u');
        }
      });
      committed++;
      for (const [k, n] of local) counts.set(k, (counts.get(k) ?? 0) + n);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  loop.catch(() => {}); // reported by stop()
  return {
    counts,
    committed: () => committed,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** md5 over every row as JSON in key order; a service copy is read for one tenant, without its tenant column. */
async function checksum(db: Knex, table: string, tenant: string | null): Promise<{ sum: string; n: number }> {
  const copy = tenant !== null;
  const sql = `SELECT md5(coalesce(string_agg(r, '|' ORDER BY r), '')) AS sum, count(*)::int AS n FROM (SELECT (to_jsonb(t) ${copy ? "- 'tenant'" : ''})::text AS r FROM ${table} t ${copy ? 'WHERE tenant = ?' : ''}) x`;
  return (await db.raw(sql, copy ? [tenant] : [])).rows[0] as { sum: string; n: number };
}

async function rows(db: Knex, table: string, tenant: string | null): Promise<Set<string>> {
  const copy = tenant !== null;
  const sql = `SELECT (to_jsonb(t) ${copy ? "- 'tenant'" : ''})::text AS r FROM ${table} t ${copy ? 'WHERE tenant = ?' : ''}`;
  return new Set<string>((await db.raw(sql, copy ? [tenant] : [])).rows.map((x: { r: string }) => x.r));
}

/**
 * Waits (up to `timeoutMs` per table) until the service's copy of every
 * table has the source's checksum; otherwise throws with the rows that
 * differ. Returns the row count of each table.
 */
export async function expectSameRows(src: Knex, dst: Knex, tenant: string, timeoutMs = 60_000): Promise<Record<string, number>> {
  const counted: Record<string, number> = {};
  for (const table of LOAD_TABLES) {
    const want = await checksum(src, table, null);
    await eventually(async () => (await checksum(dst, table, tenant)).sum === want.sum, timeoutMs, 250).catch(() => undefined);
    const got = await checksum(dst, table, tenant);
    if (got.sum !== want.sum) {
      const [a, b] = [await rows(src, table, null), await rows(dst, table, tenant)];
      const missing = [...a].filter((r) => !b.has(r)).slice(0, 5);
      const extra = [...b].filter((r) => !a.has(r)).slice(0, 5);
      throw new Error(`${table}: ${want.n} source rows, ${got.n} copied; missing or different in the copy: ${missing.join('\n')}; only in the copy: ${extra.join('\n')}`);
    }
    counted[table] = got.n;
  }
  return counted;
}

/** The counting projection's figures (`event_counts`), per `<table>:<op>`, snapshot reads left out. */
export async function countedEvents(dst: Knex): Promise<Record<string, number>> {
  const counted = (await dst('event_counts').select('topic', 'op', 'n')) as Array<{ topic: string; op: string; n: string }>;
  return Object.fromEntries(counted.filter((c) => c.op !== 'r').map((c) => [`${c.topic.split('.').pop()}:${c.op}`, Number(c.n)]).sort());
}

/** Waits until the counting projection counted exactly what the load committed; returns both, sorted, for an expect. */
export async function countsSettled(dst: Knex, load: WriteLoad, timeoutMs = 30_000): Promise<{ expected: Record<string, number>; counted: Record<string, number> }> {
  const expected = Object.fromEntries([...load.counts].sort());
  await eventually(async () => JSON.stringify(await countedEvents(dst)) === JSON.stringify(expected), timeoutMs, 250).catch(() => undefined);
  return { expected, counted: await countedEvents(dst) };
}
