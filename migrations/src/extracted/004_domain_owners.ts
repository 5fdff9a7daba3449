import type { Knex } from 'knex';

/**
 * domain_owners: the service's own record of which tenants' domains it owns.
 * A write of the service commits only while its tenant's row says
 * `service` (it reads the row FOR SHARE in the write's transaction, so a
 * hand-back waits for the writes in flight and no write commits after it).
 * The row is captured by back-sync's connector with the owned tables: in
 * the service's commit order, back-sync learns from it which changes to
 * carry, and applying it is the sign that everything before it is applied.
 * `monolith_lsn`: the monolith's WAL position at the hand-over to the
 * service; the forward projector applies the monolith's changes of the
 * domain's tables up to it and reports those after it as conflicts.
 * ownership_conflicts: those monolith writes, for `strangler own conflicts`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE strangler.domain_owners (
    tenant text NOT NULL,
    domain text NOT NULL,
    owner text NOT NULL CHECK (owner IN ('monolith', 'service')),
    epoch bigint NOT NULL,
    monolith_lsn pg_lsn,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, domain)
  )`);
  await knex.raw(`CREATE TABLE strangler.ownership_conflicts (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL,
    domain text NOT NULL,
    tbl text NOT NULL,
    op text NOT NULL,
    key jsonb NOT NULL,
    lsn pg_lsn,
    committed_at timestamptz,
    seen_at timestamptz NOT NULL DEFAULT now()
  )`);
  await knex.raw('CREATE INDEX ownership_conflicts_tenant ON strangler.ownership_conflicts (tenant, domain, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS strangler.ownership_conflicts, strangler.domain_owners');
}
