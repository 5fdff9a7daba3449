import type { Knex } from 'knex';

/**
 * The projector runtime's bookkeeping in a service database, written in the
 * same transaction as each batch's effects, so a crash or a replay never
 * applies an event twice nor skips one:
 * - projection_checkpoints: per projection and topic partition, the last
 *   Kafka offset applied and the source's stream position (commit LSN, LSN)
 *   and commit time of the newest change applied.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE SCHEMA IF NOT EXISTS strangler');
  await knex.schema.withSchema('strangler').createTable('projection_checkpoints', (t) => {
    t.text('projection').notNullable();
    t.text('topic').notNullable();
    t.integer('partition').notNullable();
    t.bigInteger('kafka_offset').notNullable();
    t.text('tenant').notNullable();
    t.decimal('commit_lsn', 20, 0);
    t.decimal('lsn', 20, 0);
    // Which events (op and key) were applied at exactly (commit_lsn, lsn): a primary-key change is a
    // delete and a create at one position, and a re-emission after a Connect restart sends both again.
    t.jsonb('position_events').notNullable().defaultTo('[]');
    t.timestamp('source_ts', { useTz: true });
    t.timestamp('applied_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['projection', 'topic', 'partition']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema('strangler').dropTable('projection_checkpoints');
}
