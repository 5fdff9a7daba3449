import type { Knex } from 'knex';

/**
 * The transactional outbox of an extracted service: a domain event is a row
 * written in the same transaction as the change it tells of, so it is
 * published exactly when that transaction commits (and never when it rolls
 * back). Debezium's outbox event router (cdc/src/outbox.ts) carries each row
 * to `<service>.events.<aggregate_type>`, keyed by `aggregate_id`, the
 * payload as the event's value and `id`, `type`, `version` and `tenant` as
 * headers. The topic is the record; the rows may be deleted once
 * captured (by occurred_at).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE public.outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    type text NOT NULL,
    version integer NOT NULL,
    tenant text NOT NULL,
    payload jsonb NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
  )`);
  await knex.raw('CREATE INDEX outbox_occurred_at ON public.outbox (occurred_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS public.outbox');
}
