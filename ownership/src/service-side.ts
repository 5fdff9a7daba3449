import { OwnershipError } from './errors';
import { inTransaction, q, withClient } from './sql';

const APP = 'strangler-handover';

export type Owner = 'monolith' | 'service';

/**
 * The service's own record of ownership (migration extracted/004): its
 * writes commit only while the tenant's row says `service`, and back-sync
 * reads the row's changes in the service's commit order.
 */
export async function serviceOwner(url: string, tenant: string, domain: string): Promise<{ owner: Owner; epoch: number; monolithLsn: string | null } | null> {
  return withClient(url, APP, async (c) => {
    const r = await c.query<{ owner: Owner; epoch: string; monolith_lsn: string | null }>('SELECT owner, epoch, monolith_lsn::text FROM strangler.domain_owners WHERE tenant = $1 AND domain = $2', [tenant, domain]).catch(missing);
    const row = r.rows[0];
    return row ? { owner: row.owner, epoch: Number(row.epoch), monolithLsn: row.monolith_lsn } : null;
  });
}

/**
 * Hands the tenant's domain to the service, in one transaction: its row says
 * `service` from `epoch` on, with the monolith's WAL position at the fence
 * (the forward projector applies the monolith's changes up to it and
 * reports those after it as conflicts), and each table's next id moved past
 * what the monolith gave (`floors`, by bare table name), never back.
 */
export async function grantToService(url: string, g: { tenant: string; domain: string; epoch: number; monolithLsn: string; floors: Readonly<Record<string, number>> }): Promise<void> {
  await withClient(url, APP, async (c) =>
    inTransaction(c, async () => {
      await c.query(`SELECT pg_advisory_xact_lock(${LOCK_PG})`, [g.tenant, g.domain]);
      await c.query(
        `INSERT INTO strangler.domain_owners (tenant, domain, owner, epoch, monolith_lsn) VALUES ($1, $2, 'service', $3, $4::pg_lsn)
         ON CONFLICT (tenant, domain) DO UPDATE SET owner = 'service', epoch = EXCLUDED.epoch, monolith_lsn = EXCLUDED.monolith_lsn, updated_at = greatest(clock_timestamp(), strangler.domain_owners.updated_at + interval '1 microsecond')`,
        [g.tenant, g.domain, g.epoch, g.monolithLsn],
      ).catch(missing);
      for (const [tbl, hw] of Object.entries(g.floors)) {
        await c.query(
          `INSERT INTO strangler.id_allocations AS a (tenant, tbl, next_id) VALUES ($1, $2, $3)
           ON CONFLICT (tenant, tbl) DO UPDATE SET next_id = greatest(a.next_id, EXCLUDED.next_id)`,
          [g.tenant, tbl, hw + 1],
        );
        // The sequence that gives the ids moves past them too (never back).
        const seq = idSequence(g.tenant, tbl);
        await c.query(`CREATE SEQUENCE IF NOT EXISTS ${seq} AS bigint`).catch((err: { code?: string }) => {
          if (err.code !== '23505' && err.code !== '42P07') throw err;
        });
        await c.query(`SELECT setval('${seq.replace(/'/g, "''")}', greatest($1::bigint, (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM ${seq}), 1), true)`, [hw]);
      }
    }),
  );
}

/**
 * Takes the tenant's domain from the service: its row says `monolith` from
 * `epoch` on. The update waits for the service's writes in flight (each
 * holds the row FOR SHARE) and none commits after it: its place in the
 * service's WAL is the fence of the service's stream. Returns the highest id
 * the service gave per table (the monolith's sequences go past them).
 */
export async function revokeFromService(url: string, r: { tenant: string; domain: string; epoch: number; lockTimeoutMs: number }): Promise<{ allocated: Record<string, number> }> {
  return withClient(url, APP, async (c) =>
    inTransaction(c, async () => {
      await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(r.lockTimeoutMs))}`);
      await c.query(`SELECT pg_advisory_xact_lock(${LOCK_PG})`, [r.tenant, r.domain]);
      await c.query(
        `INSERT INTO strangler.domain_owners (tenant, domain, owner, epoch) VALUES ($1, $2, 'monolith', $3)
         ON CONFLICT (tenant, domain) DO UPDATE SET owner = 'monolith', epoch = EXCLUDED.epoch, updated_at = greatest(clock_timestamp(), strangler.domain_owners.updated_at + interval '1 microsecond')`,
        [r.tenant, r.domain, r.epoch],
      ).catch(missing);
      const a = await c.query<{ tbl: string; hw: string }>('SELECT tbl, (next_id - 1)::text AS hw FROM strangler.id_allocations WHERE tenant = $1', [r.tenant]);
      const allocated: Record<string, number> = Object.fromEntries(a.rows.map((x) => [x.tbl, Number(x.hw)]));
      // What the sequences gave (a sequence's last value counts whether or not its transaction committed).
      const prefix = `ids__${r.tenant}__`;
      const seqs = await c.query<{ name: string; last: string | null }>("SELECT sequencename AS name, last_value::text AS last FROM pg_sequences WHERE schemaname = 'strangler' AND starts_with(sequencename, $1)", [prefix]);
      for (const x of seqs.rows) {
        const tbl = x.name.slice(prefix.length);
        allocated[tbl] = Math.max(allocated[tbl] ?? 0, Number(x.last ?? 0));
      }
      return { allocated };
    }),
  );
}

/**
 * A probe through back-sync: the tenant's row written again as it is (same
 * owner and epoch, a new updated_at). Back-sync applies it like any change
 * of ownership and records the row's updated_at (backsync_state.service_time),
 * so once the monolith shows `atUs` or later there, everything the service
 * committed before the probe is in the monolith. Null without a row.
 */
export async function probeBackSync(url: string, tenant: string, domain: string): Promise<{ at: string; atUs: number } | null> {
  return withClient(url, APP, async (c) => {
    await c.query("SET lock_timeout = '5s'"); // a grant or a revoke holds the row for a moment at most
    const r = await c
      .query<{ at: Date; at_us: string }>(
        'UPDATE strangler.domain_owners SET updated_at = greatest(clock_timestamp(), updated_at + interval \'1 microsecond\') WHERE tenant = $1 AND domain = $2 RETURNING updated_at AS at, (extract(epoch FROM updated_at) * 1000000)::bigint AS at_us',
        [tenant, domain],
      )
      .catch(missing);
    return r.rows[0] ? { at: r.rows[0].at.toISOString(), atUs: Number(r.rows[0].at_us) } : null;
  });
}

/** Conflicts the forward projector recorded: the monolith writing the domain's tables while the service owned them. */
export async function conflicts(url: string, tenant: string | null, domain: string, limit: number): Promise<Array<{ id: number; tenant: string; table: string; op: string; key: unknown; lsn: string | null; committedAt: string | null; seenAt: string }>> {
  return withClient(url, APP, async (c) => {
    const r = await c.query<{ id: string; tenant: string; tbl: string; op: string; key: unknown; lsn: string | null; committed_at: Date | null; seen_at: Date }>(
      'SELECT id, tenant, tbl, op, key, lsn::text, committed_at, seen_at FROM strangler.ownership_conflicts WHERE domain = $1 AND ($2::text IS NULL OR tenant = $2) ORDER BY id DESC LIMIT $3',
      [domain, tenant, limit],
    ).catch(missing);
    return r.rows.map((x) => ({ id: Number(x.id), tenant: x.tenant, table: x.tbl, op: x.op, key: x.key, lsn: x.lsn, committedAt: x.committed_at?.toISOString() ?? null, seenAt: x.seen_at.toISOString() }));
  });
}

function missing(err: Error & { code?: string }): never {
  if (err.code === '42P01') throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', "the service database has no strangler.domain_owners: run the toolkit's migrations on it (npm run migrate -- extracted --database-url <url>)", { cause: err });
  throw err;
}

/**
 * The sequence that gives a tenant's ids of one table in the service (a
 * sequence never waits: writers do not queue on an allocator row, and an id
 * given is never given again, even by a transaction that rolled back).
 */
export function idSequence(tenant: string, table: string): string {
  return `strangler.${q(`ids__${tenant}__${table}`)}`;
}

/** The lock a service write holds shared, and a grant or a revoke exclusive: a hand-over waits for the writes in flight, and no write commits after it (knex placeholders). */
export const OWNERSHIP_LOCK_SQL = "hashtext('strangler.domain_owners'), hashtext(? || '/' || ?)";
/** The same lock with node-postgres's placeholders. */
const LOCK_PG = OWNERSHIP_LOCK_SQL.replace('?', '$1').replace('?', '$2');
