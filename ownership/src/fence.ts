import { OwnershipError } from './errors';
import { qt, qualified, withClient } from './sql';

/**
 * What happens to a write the monolith makes to a table its domain's service
 * owns (a route outside the domain, a batch job, a cascade):
 * - detect: it passes; the change stream reports it as a conflict (the
 *   forward projector's `owned` and `onConflict`), and it is not applied to
 *   the service, the source of truth: the row stays different in the monolith
 *   until the service writes it again (back-sync then overwrites it).
 * - enforce: a trigger refuses it inside the monolith's database
 *   (insufficient_privilege, a message naming the domain and a hint); only a
 *   session with a replication origin set up (back-sync) writes.
 */
export type FenceMode = 'detect' | 'enforce';

export interface Fence {
  readonly table: string;
  readonly domain: string;
  readonly mode: FenceMode;
  readonly since: string;
}


/** Fences a domain's tables in one monolith database (idempotent: a second call changes the mode). */
export async function fence(url: string, domain: string, tables: readonly string[], mode: FenceMode): Promise<void> {
  await withClient(url, 'strangler-fence', async (c) => {
    const ready = await c.query("SELECT to_regclass('strangler.domain_fence') IS NOT NULL AS ok");
    if (!ready.rows[0]?.ok) {
      throw new OwnershipError('STR_ERR_OWNERSHIP_CONFIG', 'this monolith database has no strangler.domain_fence: run the toolkit\'s migrations on it first (npm run migrate -- monolith-cdc --database-url <url>)');
    }
    await c.query('BEGIN');
    try {
      for (const t of tables) {
        await c.query('INSERT INTO strangler.domain_fence (tbl, domain, mode) VALUES ($1, $2, $3) ON CONFLICT (tbl) DO UPDATE SET domain = EXCLUDED.domain, mode = EXCLUDED.mode', [qualified(t), domain, mode]);
        await c.query(`CREATE OR REPLACE TRIGGER strangler_fence BEFORE INSERT OR UPDATE OR DELETE ON ${qt(t)} FOR EACH ROW EXECUTE FUNCTION strangler.fence_guard()`);
        await c.query(`CREATE OR REPLACE TRIGGER strangler_fence_truncate BEFORE TRUNCATE ON ${qt(t)} FOR EACH STATEMENT EXECUTE FUNCTION strangler.fence_guard()`);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw new OwnershipError('STR_ERR_OWNERSHIP_TABLE', `cannot fence ${tables.join(', ')}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Lifts the fence from tables (the monolith owns them again): the triggers go, nothing is left behind. */
export async function unfence(url: string, tables: readonly string[]): Promise<void> {
  await withClient(url, 'strangler-fence', async (c) => {
    await c.query('BEGIN');
    try {
      for (const t of tables) {
        await c.query(`DROP TRIGGER IF EXISTS strangler_fence ON ${qt(t)}`);
        await c.query(`DROP TRIGGER IF EXISTS strangler_fence_truncate ON ${qt(t)}`);
        await c.query('DELETE FROM strangler.domain_fence WHERE tbl = $1', [qualified(t)]);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  });
}

export async function fences(url: string): Promise<Fence[]> {
  return withClient(url, 'strangler-fence', async (c) => {
    const r = await c.query<{ tbl: string; domain: string; mode: FenceMode; since: Date }>('SELECT tbl, domain, mode, since FROM strangler.domain_fence ORDER BY tbl');
    return r.rows.map((x) => ({ table: x.tbl, domain: x.domain, mode: x.mode, since: x.since.toISOString() }));
  });
}
