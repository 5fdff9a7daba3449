import type { Knex } from 'knex';

/**
 * projection_checkpoints.snapshot: Debezium's `source.snapshot` of the
 * newest change applied on the partition (`first`, `true`,
 * `last_in_data_collection`, `last`, `false`, `incremental`...), or NULL
 * before the first. A service restarted in the middle of a tenant's initial
 * snapshot then still knows that its copy of the tenant is incomplete
 * (cdc's freshnessReport says `loading`, and the proxy keeps the tenant's
 * reads on the monolith).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.withSchema('strangler').alterTable('projection_checkpoints', (t) => {
    t.text('snapshot');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema('strangler').alterTable('projection_checkpoints', (t) => {
    t.dropColumn('snapshot');
  });
}
