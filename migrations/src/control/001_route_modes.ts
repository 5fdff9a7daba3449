import type { Knex } from 'knex';

/**
 * The proxy's control store:
 * - route_modes: the current mode of each route, route-wide (scope '*') or
 *   for one tenant; what every proxy replica routes by;
 * - declared_modes: what the config file last declared, so a reload only
 *   writes what the file changed and never undoes a flip made by command;
 * - route_changes: the audit log, one row per change with who, when, why,
 *   where it came from and the state before and after.
 * A trigger-free NOTIFY (sent by the writer in the same transaction) tells
 * replicas to re-read; they also poll route_changes' newest id.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('route_modes', (t) => {
    t.text('route_id').notNullable();
    t.text('scope').notNullable();
    t.text('mode').notNullable();
    t.decimal('percent', 5, 2);
    t.bigInteger('change_id').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['route_id', 'scope']);
  });
  await knex.raw(`ALTER TABLE route_modes ADD CONSTRAINT route_modes_mode CHECK (mode IN ('monolith','shadow','canary','extracted'))`);
  await knex.raw(`ALTER TABLE route_modes ADD CONSTRAINT route_modes_percent CHECK ((mode = 'canary') = (percent IS NOT NULL) AND (percent IS NULL OR percent BETWEEN 0 AND 100))`);
  await knex.schema.createTable('declared_modes', (t) => {
    t.text('route_id').notNullable();
    t.text('scope').notNullable();
    t.text('mode').notNullable();
    t.decimal('percent', 5, 2);
    t.primary(['route_id', 'scope']);
  });
  await knex.schema.createTable('route_changes', (t) => {
    t.bigIncrements('id').primary();
    t.text('route_id').notNullable();
    t.text('scope').notNullable();
    t.jsonb('previous');
    t.jsonb('next');
    t.text('actor').notNullable();
    t.text('reason').notNullable();
    t.text('source').notNullable();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['route_id', 'id']);
  });
  await knex.raw(`ALTER TABLE route_changes ADD CONSTRAINT route_changes_source CHECK (source IN ('file','api','rollback','gate'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('route_changes');
  await knex.schema.dropTable('declared_modes');
  await knex.schema.dropTable('route_modes');
}
