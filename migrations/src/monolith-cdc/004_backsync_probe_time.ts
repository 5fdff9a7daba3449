import type { Knex } from 'knex';

/**
 * backsync_state.service_time: the service's `updated_at` of the ownership
 * row back-sync applied last, in the service's own clock. A probe (the row
 * written again as it is) is known applied when this reaches the time its
 * UPDATE returned: comparing with applied_at (this database's clock at the
 * apply) was wrong when an older probe was applied after a newer one was
 * written (two rounds at once: the rollback guard's and read-your-writes').
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE strangler.backsync_state ADD COLUMN service_time timestamptz');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE strangler.backsync_state DROP COLUMN IF EXISTS service_time');
}
