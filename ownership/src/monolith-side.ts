import { OwnershipError } from './errors';
import { inTransaction, q, qt, qualified, withClient } from './sql';

const APP = 'strangler-handover';

/** A table's key sequence: the serial or identity sequence behind a one-column primary key. */
export interface KeySequence {
  readonly table: string;
  readonly column: string;
  readonly sequence: string;
}

/**
 * The sequences that allocate a domain's keys in a monolith database (tables
 * keyed by something else, a join table's composite key, have none and are
 * left out: their keys are not given by the owner).
 */
export async function keySequences(url: string, tables: readonly string[]): Promise<KeySequence[]> {
  return withClient(url, APP, async (c) => {
    const out: KeySequence[] = [];
    for (const t of tables) {
      const name = qualified(t);
      const r = await c.query<{ column: string; seq: string | null }>(
        `SELECT a.attname AS column, pg_get_serial_sequence($1, a.attname) AS seq
           FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
          WHERE i.indrelid = $1::regclass AND i.indisprimary AND array_length(i.indkey, 1) = 1`,
        [qt(name)],
      ).catch((err: Error) => {
        throw new OwnershipError('STR_ERR_OWNERSHIP_TABLE', `${name}: ${err.message}`, { cause: err, context: { table: name } });
      });
      const row = r.rows[0];
      if (row?.seq) out.push({ table: name, column: row.column, sequence: row.seq });
    }
    return out;
  });
}

/** The highest key each sequence has given or the table holds, by bare table name. */
export async function keyHighWater(url: string, sequences: readonly KeySequence[]): Promise<Record<string, number>> {
  return withClient(url, APP, async (c) => {
    const out: Record<string, number> = {};
    for (const s of sequences) {
      const r = await c.query<{ hw: string }>(
        `SELECT greatest((SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM ${s.sequence}), (SELECT coalesce(max(${q(s.column)}), 0) FROM ${qt(s.table)}))::text AS hw`,
      );
      out[bare(s.table)] = Number(r.rows[0]!.hw);
    }
    return out;
  });
}

/**
 * Moves each sequence past `floors` (and past what its table holds), never
 * back: after a hand-over to the monolith, it gives no key the service gave.
 * Returns where each now stands.
 */
export async function moveSequencesPast(url: string, sequences: readonly KeySequence[], floors: Readonly<Record<string, number>>): Promise<Record<string, number>> {
  return withClient(url, APP, async (c) =>
    inTransaction(c, async () => {
      const out: Record<string, number> = {};
      for (const s of sequences) {
        const floor = floors[bare(s.table)] ?? 0;
        const r = await c.query<{ v: string }>(
          `SELECT setval($1, greatest($2::bigint, (SELECT coalesce(max(${q(s.column)}), 0) FROM ${qt(s.table)}),
                                  (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM ${s.sequence}), 1), true)::text AS v`,
          [s.sequence, floor],
        );
        out[bare(s.table)] = Number(r.rows[0]!.v);
      }
      return out;
    }),
  );
}

/**
 * The fence of the monolith's stream: once every transaction running now
 * has ended (a write the proxy let through, a batch job's), the WAL
 * position; then a heartbeat row is written after it, so the stream carries
 * a change past the fence even when the tables are idle (the service's
 * projector is through the fence when its `appliedLsn` reaches it).
 */
export async function monolithFence(url: string, timeoutMs: number): Promise<{ lsn: string; waitedMs: number }> {
  return withClient(url, APP, async (c) => {
    const started = Date.now();
    const snap = await c.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
    const xmax = snap.rows[0]!.xmax;
    for (;;) {
      const r = await c.query<{ done: boolean }>('SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done', [xmax]);
      if (r.rows[0]!.done) break;
      if (Date.now() - started > timeoutMs) {
        throw new OwnershipError('STR_ERR_OWNERSHIP_TIMEOUT', `transactions that were writing the monolith database at the fence did not end within ${timeoutMs} ms`, { retriable: true });
      }
      await new Promise((res) => setTimeout(res, 5));
    }
    const lsn = (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    await c.query(`INSERT INTO strangler.cdc_heartbeat (id, beat_at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at`).catch((err: Error) => {
      throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', `cannot write the heartbeat after the fence (${err.message}): run the toolkit's migrations on the monolith database (npm run migrate -- monolith-cdc --database-url <url>)`, { cause: err });
    });
    return { lsn, waitedMs: Date.now() - started };
  });
}

export interface BackSyncState {
  readonly owner: 'monolith' | 'service';
  readonly epoch: number;
  readonly appliedAt: string;
  /** The service's time (µs since the epoch) on the ownership row applied last: a probe is applied once it reaches the probe's (probeBackSync). */
  readonly serviceUs: number | null;
}

/**
 * Reads where back-sync stands in a monolith database for a domain (the
 * owner and epoch it last applied, and when) every `intervalMs` on one
 * session, until `done` holds or `timeoutMs` passes; the last state read and
 * whether `done` held.
 */
export async function watchBackSyncState(url: string, domain: string, done: (s: BackSyncState | null) => boolean, timeoutMs: number, intervalMs: number): Promise<{ state: BackSyncState | null; met: boolean }> {
  return withClient(url, APP, async (c) => {
    const t0 = Date.now();
    for (;;) {
      const r = await c
        .query<{ owner: 'monolith' | 'service'; epoch: string; applied_at: Date; service_us: string | null }>(
          'SELECT owner, epoch, applied_at, (extract(epoch FROM service_time) * 1000000)::bigint AS service_us FROM strangler.backsync_state WHERE domain = $1',
          [domain],
        )
        .catch((err: Error & { code?: string }) => {
          if (err.code === '42P01' || err.code === '42703') throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', `the monolith database has ${err.code === '42P01' ? 'no' : 'an older'} strangler.backsync_state: run the toolkit's migrations on it (npm run migrate -- monolith-cdc --database-url <url>)`, { cause: err });
          throw err;
        });
      const row = r.rows[0];
      const state = row ? { owner: row.owner, epoch: Number(row.epoch), appliedAt: row.applied_at.toISOString(), serviceUs: row.service_us === null ? null : Number(row.service_us) } : null;
      if (done(state)) return { state, met: true };
      if (Date.now() - t0 > timeoutMs) return { state, met: false };
      await new Promise((res) => setTimeout(res, intervalMs));
    }
  });
}

/** `public.rooms` -> `rooms`: the name a service keys its allocations by. */
export function bare(table: string): string {
  return table.slice(table.lastIndexOf('.') + 1);
}
