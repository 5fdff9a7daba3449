import type { Knex } from 'knex';

/**
 * backsync_state: how far back-sync has carried a domain's ownership into
 * this monolith database. Written by back-sync alone, under its replication
 * origin and in the same transaction as the origin's progress, when it
 * applies a change of the service's domain_owners row: the owner and epoch
 * in force at that point of the service's stream. A hand-over back to the
 * monolith waits for the epoch it revoked at: everything the service
 * committed before is then applied here. Not captured by the monolith's
 * connector.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE strangler.backsync_state (
    domain text PRIMARY KEY,
    owner text NOT NULL CHECK (owner IN ('monolith', 'service')),
    epoch bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS strangler.backsync_state');
}
