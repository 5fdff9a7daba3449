import type { PartitionLag } from './runtime';

/**
 * A service's freshness per tenant, as `GET /freshness` answers it: the JSON
 * contract the proxy's freshness check reads (strangler-proxy README,
 * "Freshness"). `behindMs` is the age of the oldest event fetched and not yet
 * applied over the tenant's partitions (0: nothing pending); `pending`, the
 * events not yet applied.
 */
export interface FreshnessReport {
  readonly at: string;
  readonly tenants: ReadonlyArray<{ readonly tenant: string; readonly behindMs: number; readonly pending: number }>;
}

/** Folds a projector's partitions (Projector.status()) into one line per tenant. */
export function freshnessReport(partitions: readonly PartitionLag[], now = new Date()): FreshnessReport {
  const byTenant = new Map<string, { behindMs: number; pending: number }>();
  for (const p of partitions) {
    const t = byTenant.get(p.tenant) ?? { behindMs: 0, pending: 0 };
    byTenant.set(p.tenant, { behindMs: Math.max(t.behindMs, p.behindMs), pending: t.pending + p.consumerLag });
  }
  return { at: now.toISOString(), tenants: [...byTenant].sort(([a], [b]) => a.localeCompare(b)).map(([tenant, t]) => ({ tenant, ...t })) };
}
