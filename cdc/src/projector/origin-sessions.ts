import type { Knex } from 'knex';

/** The replication origins a projector's sessions write under: `<prefix>_<n>`, one per pooled connection. */
export const PROJECTION_ORIGIN_PREFIX = 'strangler_projection';

/**
 * How many origins there are (one per connection: a projector applies at
 * most 4 partitions at once, so its pool needs no more). Each origin a
 * server has ever set up keeps one of its replication origin states (as
 * many as max_replication_slots) until dropped, and back-sync needs one per
 * tenant: the names are few and shared by every projector of the server. A
 * connection that finds all held (another projector's) writes without one.
 */
export const PROJECTION_ORIGINS = 4;

type PgConnection = { query(text: string, values?: unknown[]): Promise<unknown> };

/**
 * A knex pool hook that puts each new connection of a projector's own pool
 * (at most PROJECTION_ORIGINS connections) under a replication origin of its
 * own (PostgreSQL lets one session at a time hold an origin: the first of
 * `<prefix>_0..3` free). Every row the
 * projector commits then carries the origin, and a connector on that
 * database drops it before Kafka (DropOrigin): a copy a projector wrote is
 * never captured again as if the service had made the change. Only for a
 * pool nothing else writes through: whatever a tagged session commits is
 * dropped from the database's stream. A role that may not use origins
 * (GRANT EXECUTE on pg_replication_origin_create and
 * pg_replication_origin_session_setup, or superuser) writes untagged, and
 * `onUntagged` says why once.
 */
export function originSessions(prefix = PROJECTION_ORIGIN_PREFIX, onUntagged: (reason: string) => void = () => {}): NonNullable<Knex.PoolConfig['afterCreate']> {
  let told = false;
  return (conn: PgConnection, done: (err: Error | null, conn: PgConnection) => void) => {
    void (async () => {
      for (let i = 0; i < PROJECTION_ORIGINS; i++) {
        const name = `${prefix}_${i}`;
        try {
          await conn.query('SELECT pg_replication_origin_create($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = $1)', [name]).catch((err: { code?: string }) => {
            if (err.code !== '23505') throw err; // made by another session meanwhile
          });
          await conn.query('SELECT pg_replication_origin_session_setup($1)', [name]);
          return;
        } catch (err) {
          const e = err as { code?: string; message: string };
          if (e.code === '55006') continue; // held by another session
          if (!told) onUntagged(`${name}: ${e.message}`);
          told = true;
          return;
        }
      }
      if (!told) onUntagged(`every origin ${prefix}_0..${PROJECTION_ORIGINS - 1} is held by another session (another projector on this server)`);
      told = true;
    })().then(() => done(null, conn), (err: Error) => done(err, conn));
  };
}
