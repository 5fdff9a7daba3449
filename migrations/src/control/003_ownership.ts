import type { Knex } from 'knex';

/**
 * Write ownership of domains, per tenant, and the hand-overs that move it:
 * - domain_owners: who owns a domain's writes for a tenant now (monolith or
 *   service); no row means the monolith. `epoch` counts hand-overs.
 * - handovers: every hand-over, running or ended, with each step as it was
 *   recorded (the audit log of ownership, with its figures). At most one
 *   runs per domain and tenant. While one runs, every proxy process holds
 *   the domain's writes for the tenant (step hold..flip) until `hold_until`.
 *   `runner` and `lease_until` name the process driving it: another takes
 *   it up (back to the old owner, or on to the end past the flip) once the
 *   lease has run out.
 * - handover_acks: each proxy process says here that it holds the domain's
 *   writes and has none of them in flight.
 * - proxy_processes: every proxy process beats here; the live ones are those
 *   a hand-over waits for.
 * - ownership_rev: gives each change above a revision (writers take one
 *   advisory lock, so revisions commit in order), NOTIFYed; replicas compare
 *   the newest committed (max of rev) to know when to read them again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE SEQUENCE ownership_rev`);
  await knex.raw(`CREATE TABLE domain_owners (
    domain text NOT NULL,
    tenant text NOT NULL,
    owner text NOT NULL CHECK (owner IN ('monolith', 'service')),
    epoch bigint NOT NULL DEFAULT 0,
    rev bigint NOT NULL DEFAULT nextval('ownership_rev'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (domain, tenant)
  )`);
  await knex.raw(`CREATE TABLE handovers (
    id bigserial PRIMARY KEY,
    domain text NOT NULL,
    tenant text NOT NULL,
    from_owner text NOT NULL CHECK (from_owner IN ('monolith', 'service')),
    to_owner text NOT NULL CHECK (to_owner IN ('monolith', 'service')),
    status text NOT NULL CHECK (status IN ('running', 'done', 'aborted')),
    step text NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL,
    forced boolean NOT NULL DEFAULT false,
    runner text NOT NULL,
    lease_until timestamptz NOT NULL,
    hold_until timestamptz,
    steps jsonb NOT NULL DEFAULT '[]',
    figures jsonb NOT NULL DEFAULT '{}',
    error text,
    rev bigint NOT NULL DEFAULT nextval('ownership_rev'),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
  )`);
  await knex.raw(`CREATE UNIQUE INDEX handovers_one_running ON handovers (domain, tenant) WHERE status = 'running'`);
  await knex.raw('CREATE INDEX handovers_rev ON handovers (rev)');
  await knex.raw(`CREATE TABLE handover_acks (
    handover_id bigint NOT NULL REFERENCES handovers (id) ON DELETE CASCADE,
    process text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (handover_id, process)
  )`);
  await knex.raw(`CREATE TABLE proxy_processes (
    id text PRIMARY KEY,
    pid integer NOT NULL,
    host text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    beat_at timestamptz NOT NULL DEFAULT now()
  )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS proxy_processes, handover_acks, handovers, domain_owners');
  await knex.raw('DROP SEQUENCE IF EXISTS ownership_rev');
}
