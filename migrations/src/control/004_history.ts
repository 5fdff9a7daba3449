import type { Knex } from 'knex';

/**
 * The proxy's figures over time, for the dashboard's charts and the progress
 * view (strangler-proxy/src/history/): every proxy process adds what it
 * counted in the last few seconds to the row of each resolution (5 s, 1 min,
 * 10 min) it falls in, merging with what other processes added (sums for
 * counts, the maximum for gauges); old rows of each resolution are deleted
 * past its retention, so the table stays bounded by the number of routes,
 * tenants and services. `v` is a fixed layout per kind (see layouts.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE metric_history (
    resolution_s integer NOT NULL,
    at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('requests', 'parity', 'freshness')),
    subject text NOT NULL,
    tenant text NOT NULL,
    target text NOT NULL,
    v double precision[] NOT NULL,
    PRIMARY KEY (resolution_s, kind, subject, tenant, target, at)
  )`);
  await knex.raw('CREATE INDEX metric_history_at ON metric_history (resolution_s, at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE metric_history');
}
