import type { Knex } from 'knex';

export interface Checkpoint {
  readonly offset: bigint;
  readonly commitLsn: bigint | null;
  readonly lsn: bigint | null;
  /** The events (op:key) applied at exactly (commitLsn, lsn): more than one when a key changed. */
  readonly atPosition: readonly string[];
}

const TABLE = 'strangler.projection_checkpoints';

/**
 * Reads (and locks, for the transaction) a projection's checkpoint of one
 * topic partition. The lock is taken even when there is no row yet (an
 * advisory lock on the projection partition), so two transactions of one
 * partition (an old owner finishing while a new one starts, after a
 * rebalance) never both see "nothing applied".
 */
export async function readCheckpoint(trx: Knex.Transaction, projection: string, topic: string, partition: number): Promise<Checkpoint | null> {
  await trx.raw('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`strangler.checkpoint/${projection}/${topic}/${partition}`]);
  const { rows } = await trx.raw<{ rows: Array<{ kafka_offset: string; commit_lsn: string | null; lsn: string | null; position_events: string[] }> }>(
    `SELECT kafka_offset, commit_lsn, lsn, position_events FROM ${TABLE} WHERE projection = ? AND topic = ? AND partition = ? FOR UPDATE`,
    [projection, topic, partition],
  );
  const r = rows[0];
  if (!r) return null;
  return { offset: BigInt(r.kafka_offset), commitLsn: r.commit_lsn === null ? null : BigInt(r.commit_lsn), lsn: r.lsn === null ? null : BigInt(r.lsn), atPosition: r.position_events };
}

export async function writeCheckpoint(
  trx: Knex.Transaction,
  projection: string,
  topic: string,
  partition: number,
  tenant: string,
  cp: Checkpoint,
  newest: { readonly tsMs: number; readonly snapshot: string } | null,
): Promise<void> {
  await trx.raw(
    `INSERT INTO ${TABLE} (projection, topic, partition, kafka_offset, tenant, commit_lsn, lsn, position_events, source_ts, snapshot, applied_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb, to_timestamp(?::double precision / 1000), ?, now())
     ON CONFLICT (projection, topic, partition) DO UPDATE SET kafka_offset = excluded.kafka_offset, commit_lsn = excluded.commit_lsn,
       lsn = excluded.lsn, position_events = excluded.position_events, source_ts = COALESCE(excluded.source_ts, ${TABLE}.source_ts),
       snapshot = COALESCE(excluded.snapshot, ${TABLE}.snapshot), applied_at = now()`,
    [projection, topic, partition, cp.offset.toString(), tenant, cp.commitLsn?.toString() ?? null, cp.lsn?.toString() ?? null, JSON.stringify(cp.atPosition), newest?.tsMs ?? null, newest?.snapshot ?? null],
  );
}

/** Every checkpoint of a projection (status, lag, the service's applied position per tenant). */
export async function listCheckpoints(db: Knex, projection?: string) {
  const { rows } = await db.raw<{
    rows: Array<{ projection: string; topic: string; partition: number; kafka_offset: string; tenant: string; commit_lsn: string | null; lsn: string | null; source_ts: Date | null; snapshot: string | null; applied_at: Date }>;
  }>(`SELECT * FROM ${TABLE} ${projection ? 'WHERE projection = ?' : ''} ORDER BY projection, topic, partition`, projection ? [projection] : []);
  return rows;
}

/** Forgets a projection's checkpoints (replay from the start). */
export async function clearCheckpoints(db: Knex | Knex.Transaction, projection: string): Promise<void> {
  await db.raw(`DELETE FROM ${TABLE} WHERE projection = ?`, [projection]);
}
