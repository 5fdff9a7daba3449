import type { Knex } from 'knex';

/**
 * Shadow parity and gates in the control store:
 * - parity_mismatches: sampled mismatches of shadow traffic, with the
 *   redacted request, both answers and the differences;
 * - gate_controls: operator switches for automatic moves: scope '*' pauses
 *   every gate; '<route>' or '<route>:<tenant>' freezes one route.
 * Automatic moves themselves are rows of route_changes (source 'gate').
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('parity_mismatches', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('route_id').notNullable();
    t.text('tenant').notNullable();
    t.jsonb('request').notNullable();
    t.jsonb('primary_response').notNullable();
    t.jsonb('shadow_response').notNullable();
    t.jsonb('differences').notNullable();
    t.index(['route_id', 'tenant', 'id']);
  });
  await knex.schema.createTable('gate_controls', (t) => {
    t.text('scope').primary();
    t.text('actor').notNullable();
    t.text('reason').notNullable();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('gate_controls');
  await knex.schema.dropTable('parity_mismatches');
}
