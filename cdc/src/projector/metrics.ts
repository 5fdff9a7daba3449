import { Gauge, Registry } from 'prom-client';
import { freshnessReport } from './freshness';
import type { PartitionLag } from './runtime';

/**
 * A projection's Prometheus gauges, read from its status at each scrape:
 * per partition consumer lag, end-to-end lag, how far behind, events applied
 * and dead-lettered; per tenant whether its initial snapshot is still being
 * applied. Any service that runs a projector serves these on /metrics.
 */
export function projectionRegistry(projection: string, lag: () => readonly PartitionLag[], registry = new Registry()): Registry {
  const labels = ['projection', 'topic', 'partition', 'tenant'] as const;
  const gauge = (name: string, help: string, value: (l: PartitionLag) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const l of lag()) {
          const v = value(l);
          if (v !== null) this.labels(projection, l.topic, String(l.partition), l.tenant).set(v);
        }
      },
    });
  gauge('strangler_projection_consumer_lag', 'Messages on the partition not yet applied', (l) => l.consumerLag);
  gauge('strangler_projection_end_to_end_lag_seconds', 'Source commit to applied, for the newest event applied', (l) => (l.endToEndMs === null ? null : l.endToEndMs / 1000));
  gauge('strangler_projection_behind_seconds', 'Age of the oldest event fetched and not yet applied (0: nothing pending)', (l) => l.behindMs / 1000);
  gauge('strangler_projection_applied_events', 'Events applied since the process started', (l) => l.applied);
  gauge('strangler_projection_dead_lettered_events', 'Events sent to the dead-letter topic since the process started', (l) => l.deadLettered);
  new Gauge({
    name: 'strangler_projection_tenant_loading',
    help: "1 while the tenant's initial snapshot is still being applied (GET /freshness says loading; the proxy holds its reads back), else 0",
    labelNames: ['projection', 'tenant'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of freshnessReport(lag()).tenants) this.labels(projection, t.tenant).set(t.loading ? 1 : 0);
    },
  });
  return registry;
}
