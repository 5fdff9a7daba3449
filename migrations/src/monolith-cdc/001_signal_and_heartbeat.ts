import type { Knex } from 'knex';

/**
 * The toolkit's own objects inside a monolith database, kept in their own
 * schema so the legacy schema stays as its authors left it:
 * - debezium_signal: Debezium's signal table (incremental snapshots on request);
 * - cdc_heartbeat: written by the connector's heartbeat action query, so the
 *   replication slot keeps advancing while the captured tables are idle.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE SCHEMA IF NOT EXISTS strangler');
  await knex.schema.withSchema('strangler').createTable('debezium_signal', (t) => {
    t.string('id', 42).primary();
    t.string('type', 32).notNullable();
    t.string('data', 2048);
  });
  await knex.schema.withSchema('strangler').createTable('cdc_heartbeat', (t) => {
    t.integer('id').primary();
    t.timestamp('beat_at', { useTz: true, precision: 6 }).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema('strangler').dropTable('cdc_heartbeat');
  await knex.schema.withSchema('strangler').dropTable('debezium_signal');
}
