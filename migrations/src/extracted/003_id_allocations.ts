import type { Knex } from 'knex';

/**
 * id_allocations: the next id an extracted service gives, per tenant and
 * table, for the tables of a domain it owns (clients keep the ids they were
 * given: whoever owns a domain allocates, and a hand-over moves this past
 * everything the monolith gave, and the monolith's sequences past this).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE strangler.id_allocations (
    tenant text NOT NULL,
    tbl text NOT NULL,
    next_id bigint NOT NULL,
    PRIMARY KEY (tenant, tbl)
  )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS strangler.id_allocations');
}
