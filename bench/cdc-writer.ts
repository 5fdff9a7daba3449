/**
 * Steady writer for bench/cdc.ts, in its own process so that it never shares
 * an event loop with the projector it is measuring. Inserts messages into a
 * monolith database at a fixed rate: every 10 ms, rate/100 rows, in
 * transactions of at most 10 rows over 4 connections, on an absolute schedule
 * (a late tick is caught up, so the rate holds on average). Prints one JSON
 * line when done: rows written, seconds, achieved rate.
 *
 *   node --import tsx bench/cdc-writer.ts <databaseUrl> <rowsPerSecond> <seconds>
 */
import pg from 'pg';

async function main(): Promise<void> {
  const [url, rateArg, secondsArg] = process.argv.slice(2);
  const rate = Number(rateArg);
  const seconds = Number(secondsArg);
  if (!url || !(rate > 0) || !(seconds > 0)) throw new Error('usage: cdc-writer <databaseUrl> <rowsPerSecond> <seconds>');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const { rows } = await pool.query<{ room: number; author: number }>('SELECT (SELECT min(id) FROM rooms) AS room, (SELECT min(id) FROM users) AS author');
  const { room, author } = rows[0]!;
  const tick = 10;
  const perTick = rate / (1000 / tick);
  const started = performance.now();
  let written = 0;
  let owed = 0;
  const inflight = new Set<Promise<unknown>>();
  for (let n = 1; performance.now() - started < seconds * 1000; n++) {
    owed += perTick;
    let due = Math.floor(owed);
    owed -= due;
    while (due > 0) {
      const k = Math.min(10, due);
      due -= k;
      const values: string[] = [];
      const params: unknown[] = [];
      for (let i = 0; i < k; i++) {
        params.push(room, author, `bench message ${written + i} written at ${Date.now()}`);
        values.push(`($${params.length - 2}, $${params.length - 1}, $${params.length})`);
      }
      written += k;
      const p = pool.query(`INSERT INTO messages (room_id, author_id, body) VALUES ${values.join(', ')}`, params).finally(() => inflight.delete(p));
      inflight.add(p);
      // Never more than the pool can take at once: a stalled database slows the writer instead of queueing without bound.
      if (inflight.size >= 64) await Promise.race(inflight);
    }
    const wait = started + n * tick - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  const took = (performance.now() - started) / 1000;
  await pool.end();
  console.log(JSON.stringify({ written, seconds: +took.toFixed(2), rate: Math.round(written / took) }));
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
