import type { Knex } from 'knex';

/**
 * The inbox of a service that consumes other services' domain events: each
 * event kept once per consumer (its id, from the outbox, is the key), so an
 * event delivered again after a crash or a rebalance has no second effect.
 * The consumer inserts, then commits its Kafka offset.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE public.inbox (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    type text NOT NULL,
    version integer NOT NULL,
    tenant text NOT NULL,
    aggregate_id text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
  )`);
  await knex.raw('CREATE INDEX inbox_tenant ON public.inbox (consumer, tenant, received_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS public.inbox');
}
