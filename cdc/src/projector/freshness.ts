import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TABLE } from '../connector-config';
import type { PartitionLag } from './runtime';

/**
 * A service's freshness per tenant, as `GET /freshness` answers it: the JSON
 * contract the proxy's freshness check reads (strangler-proxy README,
 * "Freshness"). `behindMs` bounds how old the changes the service lacks can
 * be: the older of the oldest event it fetched and has not applied, and,
 * where it reads the tenant's heartbeat topic, the time since the newest
 * heartbeat it applied beyond one heartbeat interval (the capture or Kafka
 * stalled). `pending`: events fetched and not yet applied.
 */
export interface FreshnessReport {
  readonly at: string;
  readonly tenants: ReadonlyArray<{
    readonly tenant: string;
    readonly behindMs: number;
    readonly pending: number;
    /** Source commit time of the newest heartbeat applied, when the projection reads the heartbeat topic. */
    readonly heartbeatAt: string | null;
  }>;
}

export interface FreshnessOptions {
  readonly now?: Date;
  /** The heartbeat table's `<schema>.<table>` (its topic is `<tenant>.<schema>.<table>`). @default HEARTBEAT_TABLE */
  readonly heartbeatTable?: string;
  /** How often the connector beats. @default HEARTBEAT_INTERVAL_MS */
  readonly heartbeatIntervalMs?: number;
}

/** Folds a projector's partitions (Projector.status()) into one line per tenant. */
export function freshnessReport(partitions: readonly PartitionLag[], options: FreshnessOptions = {}): FreshnessReport {
  const now = (options.now ?? new Date()).getTime();
  const heartbeat = options.heartbeatTable ?? HEARTBEAT_TABLE;
  const interval = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
  const byTenant = new Map<string, { behindMs: number; pending: number; heartbeatTs: number | null }>();
  for (const p of partitions) {
    const t = byTenant.get(p.tenant) ?? { behindMs: 0, pending: 0, heartbeatTs: null };
    const beat = p.topic === `${p.tenant}.${heartbeat}` ? p.sourceTs : null;
    // Nothing newer than the last heartbeat is known to be captured: what came after its next one is missing.
    const stalled = beat === null ? 0 : Math.max(0, now - beat - interval);
    byTenant.set(p.tenant, { behindMs: Math.max(t.behindMs, p.behindMs, stalled), pending: t.pending + p.consumerLag, heartbeatTs: beat ?? t.heartbeatTs });
  }
  return {
    at: new Date(now).toISOString(),
    tenants: [...byTenant]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([tenant, t]) => ({ tenant, behindMs: t.behindMs, pending: t.pending, heartbeatAt: t.heartbeatTs === null ? null : new Date(t.heartbeatTs).toISOString() })),
  };
}
