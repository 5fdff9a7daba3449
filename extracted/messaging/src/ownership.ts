import type { Knex } from 'knex';
import { lsnText, lsnValue, type ChangeEvent } from '@strangler/cdc';
import { OWNERSHIP_LOCK_SQL } from '@strangler/ownership';

/** The domain this service takes over (the proxy's domains.<name>; its rows in strangler.domain_owners). */
export const DOMAIN = 'messaging';
/** The tables of the domain, as the monolith names them (users stay with the monolith). */
export const DOMAIN_TABLES: ReadonlySet<string> = new Set(['public.rooms', 'public.room_members', 'public.messages']);

/**
 * Whether the service owns the tenant's domain, read in the write's own
 * transaction under the ownership lock held shared until it commits: a
 * hand-back (which takes it exclusive to change the row) waits for the
 * writes in flight, and a write that gets the lock after it reads the new
 * owner, so no write commits after it. An advisory lock rather than the row
 * FOR SHARE: hundreds of writers a second sharing one row lock would make
 * PostgreSQL write a multixact into the row for each of them.
 */
export async function ownsInTransaction(trx: Knex.Transaction, tenant: string, domain = DOMAIN): Promise<boolean> {
  // Two statements, not one: a statement's snapshot is taken when it starts, so the row must be read by a statement that
  // starts once the lock is held (one that waited for a hand-back would otherwise read the owner from before it).
  await trx.raw(`SELECT pg_advisory_xact_lock_shared(${OWNERSHIP_LOCK_SQL})`, [tenant, domain]);
  const r = await trx.raw<{ rows: Array<{ owner: string }> }>('SELECT owner FROM strangler.domain_owners WHERE tenant = ? AND domain = ?', [tenant, domain]);
  return r.rows[0]?.owner === 'service';
}

/**
 * The forward projector's view of ownership, read in each transaction that
 * applies a tenant's changes (ProjectorOptions.ownership): while the service
 * owns the tenant's domain, a monolith change to its tables made after the
 * monolith's WAL position of the hand-over (`monolith_lsn`) is a conflict;
 * changes up to that position are the monolith's own from while it owned
 * them, and are applied.
 */
export async function projectorOwnership(trx: Knex.Transaction, tenant: string, domain = DOMAIN): Promise<((e: ChangeEvent) => boolean) | null> {
  await trx.raw(`SELECT pg_advisory_xact_lock_shared(${OWNERSHIP_LOCK_SQL})`, [tenant, domain]);
  const r = await trx.raw<{ rows: Array<{ owner: string; lsn: string | null }> }>('SELECT owner, monolith_lsn::text AS lsn FROM strangler.domain_owners WHERE tenant = ? AND domain = ?', [tenant, domain]);
  const row = r.rows[0];
  if (row?.owner !== 'service') return null;
  const fence = row.lsn === null ? -1n : lsnValue(row.lsn);
  return (e) => DOMAIN_TABLES.has(`${e.source.schema}.${e.source.table}`) && (e.source.lsn === null || e.source.lsn > fence);
}

/** Keeps each conflict, in the applying transaction (exactly once, with the checkpoint), for `strangler own conflicts`. */
export async function recordConflicts(trx: Knex.Transaction, events: readonly ChangeEvent[], domain = DOMAIN): Promise<void> {
  for (const e of events) {
    await trx.raw('INSERT INTO strangler.ownership_conflicts (tenant, domain, tbl, op, key, lsn, committed_at) VALUES (?, ?, ?, ?, ?::jsonb, ?::pg_lsn, to_timestamp(? / 1000.0))', [
      e.tenant,
      domain,
      `${e.source.schema}.${e.source.table}`,
      e.op,
      JSON.stringify(e.key, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
      e.source.lsn === null ? null : lsnText(e.source.lsn),
      e.source.tsMs,
    ]);
  }
}
