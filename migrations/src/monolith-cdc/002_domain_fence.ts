import type { Knex } from 'knex';

/**
 * The write fence of a domain handed to its service (backsync/src/fence.ts
 * installs it per table; nothing here runs until a table is fenced):
 * - domain_fence: which tables a service owns in this database, in what mode
 *   (detect: writes pass, the change stream reports them as conflicts;
 *   enforce: the trigger refuses them);
 * - fence_guard(): the trigger function. In enforce mode it refuses every
 *   write to a fenced table from a session that has no replication origin
 *   set up: back-sync writes under one (its own), the legacy app never does.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE strangler.domain_fence (
    tbl text PRIMARY KEY,
    domain text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('detect', 'enforce')),
    since timestamptz NOT NULL DEFAULT now()
  )`);
  await knex.raw(`CREATE FUNCTION strangler.fence_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      f record;
    BEGIN
      SELECT domain, mode INTO f FROM strangler.domain_fence WHERE tbl = TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
      IF FOUND AND f.mode = 'enforce' AND NOT pg_replication_origin_session_is_setup() THEN
        RAISE EXCEPTION 'strangler fence: %.% belongs to domain %, which its service owns; only back-sync writes it', TG_TABLE_SCHEMA, TG_TABLE_NAME, f.domain
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'write through the service (its routes), or hand the domain back to the monolith: strangler own ' || f.domain || ' --to monolith';
      END IF;
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END
  $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS strangler.fence_guard() CASCADE');
  await knex.raw('DROP TABLE IF EXISTS strangler.domain_fence');
}
