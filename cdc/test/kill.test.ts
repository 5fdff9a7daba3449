import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Knex } from 'knex';
import { eventually, randomName, testStack } from '../../e2e/support/env';
import { streamingTenant, type StreamingTenant } from '../../e2e/support/streaming';

const KILLS = 20;
const TABLES = ['users', 'rooms', 'room_members', 'messages'] as const;

/**
 * kill -9 of the projector process in the middle of its batches, 20 times,
 * while a steady write load goes on in the monolith database. After the last
 * restart the service's copy equals the source row for row (a checksum per
 * table, then the differing rows), and a counting projection whose effect is
 * not idempotent counted every change exactly once.
 */
describe('projector killed with SIGKILL under load', () => {
  const tenant = randomName('kill');
  let stream: StreamingTenant;
  let source: StreamingTenant['source'];
  let target: StreamingTenant['target'];
  let src: Knex;
  let dst: Knex;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    stream = await streamingTenant(tenant, { targetPool: 2 });
    ({ source, target, src, dst } = stream);
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await stream?.drop();
  });

  /** Starts the projector process; resolves once it has committed something new (it is mid-stream). */
  function startProjector(): Promise<ChildProcess> {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/kill-projector.ts')], {
      env: { ...process.env, KAFKA: testStack().kafka, SOURCE_URL: source.url, TARGET_URL: target.url, TENANT: tenant },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = p;
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`projector applied nothing within 60 s: ${err}`)), 60_000);
      p.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('applied ')) {
          clearTimeout(timer);
          resolve(p);
        }
      });
      p.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (signal !== 'SIGKILL') reject(new Error(`projector exited (${code ?? signal}): ${err}`));
      });
    });
  }

  const killed = (p: ChildProcess) =>
    new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });

  /** A steady mix of inserts, updates and deletes; counts what it committed per table and op. */
  function writeLoad() {
    const counts = new Map<string, number>();
    const count = (table: string, op: string, n = 1) => counts.set(`${table}:${op}`, (counts.get(`${table}:${op}`) ?? 0) + n);
    let running = true;
    let seq = 0;
    const loop = (async () => {
      const [user] = await src('users').insert({ display_name: 'Load', email: `load@${tenant}.test` }).returning('id');
      count('users', 'c');
      const [room] = await src('rooms').insert({ name: 'load', kind: 'group', created_by: user.id }).returning('id');
      count('rooms', 'c');
      while (running) {
        seq++;
        await src.transaction(async (trx) => {
          const ids = await trx('messages').insert(Array.from({ length: 5 }, (_, i) => ({ room_id: room.id, author_id: user.id, body: `m${seq}.${i}`, amount: i % 2 ? `${seq}.${i}0` : null, currency: i % 2 ? 'EUR' : null }))).returning('id');
          count('messages', 'c', ids.length);
          if (seq % 3 === 0) {
            await trx('messages').where({ id: ids[0].id }).update({ body: `edited ${seq}`, edit_count: trx.raw('edit_count + 1') });
            count('messages', 'u');
          }
          if (seq % 5 === 0) {
            await trx('messages').where({ id: ids[1].id }).delete();
            count('messages', 'd');
          }
          if (seq % 10 === 0) {
            const [u] = await trx('users').insert({ display_name: `User ${seq}`, email: `u${seq}@${tenant}.test`, profile: { seq } }).returning('id');
            await trx('room_members').insert({ room_id: room.id, user_id: u.id, role: 'member' });
            await trx('rooms').where({ id: room.id }).update({ topic: `topic ${seq}` });
            count('users', 'c');
            count('room_members', 'c');
            count('rooms', 'u');
          }
        });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    return {
      counts,
      stop: async () => {
        running = false;
        await loop;
      },
    };
  }

  /** md5 over every row as JSON in key order; the copy without its tenant column. */
  const checksum = async (db: Knex, table: string, copy: boolean) =>
    (await db.raw(`SELECT md5(coalesce(string_agg(r, '|' ORDER BY r), '')) AS sum, count(*)::int AS n FROM (SELECT (to_jsonb(t) ${copy ? "- 'tenant'" : ''})::text AS r FROM ${table} t ${copy ? 'WHERE tenant = ?' : ''}) x`, copy ? [tenant] : [])).rows[0] as {
      sum: string;
      n: number;
    };

  const rows = async (db: Knex, table: string, copy: boolean) =>
    new Set<string>((await db.raw(`SELECT (to_jsonb(t) ${copy ? "- 'tenant'" : ''})::text AS r FROM ${table} t ${copy ? 'WHERE tenant = ?' : ''}`, copy ? [tenant] : [])).rows.map((x: { r: string }) => x.r));

  it(`converges to the source row for row after ${KILLS} kills mid-batch, each change applied exactly once`, async () => {
    const load = writeLoad();
    try {
      for (let i = 0; i < KILLS; i++) {
        const p = await startProjector();
        await new Promise((r) => setTimeout(r, Math.random() * 400));
        await killed(p);
      }
    } finally {
      await load.stop();
    }
    const last = await startProjector();
    try {
      // Converged: every table's checksum equal (or, after a minute, the differing rows shown).
      for (const table of TABLES) {
        const want = await checksum(src, table, false);
        await eventually(async () => (await checksum(dst, table, true)).sum === want.sum, 60_000, 250).catch(() => undefined);
        const got = await checksum(dst, table, true);
        if (got.sum !== want.sum) {
          const [a, b] = [await rows(src, table, false), await rows(dst, table, true)];
          const missing = [...a].filter((r) => !b.has(r)).slice(0, 5);
          const extra = [...b].filter((r) => !a.has(r)).slice(0, 5);
          throw new Error(`${table}: ${want.n} source rows, ${got.n} copied; missing or different in the copy: ${missing.join('\n')}; only in the copy: ${extra.join('\n')}`);
        }
        expect(got.n).toBe(want.n);
      }
      // Exactly once: the counting projection saw each committed change once, no more, no less.
      const expected = Object.fromEntries([...load.counts].sort());
      await eventually(async () => {
        const counted = (await dst('event_counts').select('topic', 'op', 'n')) as Array<{ topic: string; op: string; n: string }>;
        const got = Object.fromEntries(counted.filter((c) => c.op !== 'r').map((c) => [`${c.topic.split('.').pop()}:${c.op}`, Number(c.n)]).sort());
        return JSON.stringify(got) === JSON.stringify(expected);
      }, 30_000, 250).catch(() => undefined);
      const counted = (await dst('event_counts').select('topic', 'op', 'n')) as Array<{ topic: string; op: string; n: string }>;
      expect(Object.fromEntries(counted.filter((c) => c.op !== 'r').map((c) => [`${c.topic.split('.').pop()}:${c.op}`, Number(c.n)]).sort())).toEqual(expected);
      expect(expected['messages:c']).toBeGreaterThan(500);
    } finally {
      await killed(last);
    }
  }, 900_000);
});
