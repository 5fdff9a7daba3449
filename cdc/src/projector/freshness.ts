import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TABLE } from '../connector-config';
import type { PartitionLag } from './runtime';

/**
 * A service's freshness per tenant, as `GET /freshness` answers it: the JSON
 * contract the proxy's freshness check reads (strangler-proxy README,
 * "Freshness"). `behindMs` bounds how old the changes the service lacks can
 * be: the older of the oldest event it fetched and has not applied, and,
 * where it reads the tenant's heartbeat topic, the time since the newest
 * heartbeat it applied beyond one heartbeat interval (the capture or Kafka
 * stalled). `pending`: events fetched and not yet applied. `loading`: the
 * tenant's initial snapshot is still being applied, so its copy is
 * incomplete however recent its events are (see isLoading).
 * `appliedThrough`: every change of the tenant committed before this source
 * time is applied (see appliedThrough); the proxy's read-your-writes waits
 * for it to pass a client's write.
 */
export interface FreshnessReport {
  readonly at: string;
  readonly tenants: ReadonlyArray<{
    readonly tenant: string;
    readonly behindMs: number;
    readonly pending: number;
    readonly loading: boolean;
    /** Every change committed before this source time is applied; null while that is not known (loading, nothing applied yet). */
    readonly appliedThrough: string | null;
    /**
     * Every change of the tenant at or before this position of its
     * database's WAL (PostgreSQL's `X/Y` form) is applied (or passed over as
     * an echo or a conflict): the rule of appliedThrough, by WAL position
     * instead of time; null when not known. A hand-over to the service waits
     * for it to pass the monolith's position at the fence.
     */
    readonly appliedLsn: string | null;
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
  const byTenant = new Map<string, { behindMs: number; pending: number; heartbeatTs: number | null; parts: PartitionLag[] }>();
  for (const p of partitions) {
    const t = byTenant.get(p.tenant) ?? { behindMs: 0, pending: 0, heartbeatTs: null, parts: [] };
    const beat = p.topic === `${p.tenant}.${heartbeat}` ? p.sourceTs : null;
    // Nothing newer than the last heartbeat is known to be captured: what came after its next one is missing.
    const stalled = beat === null ? 0 : Math.max(0, now - beat - interval);
    t.parts.push(p);
    byTenant.set(p.tenant, { behindMs: Math.max(t.behindMs, p.behindMs, stalled), pending: t.pending + p.consumerLag, heartbeatTs: beat ?? t.heartbeatTs, parts: t.parts });
  }
  return {
    at: new Date(now).toISOString(),
    tenants: [...byTenant]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([tenant, t]) => {
        const loading = isLoading(t.parts);
        const through = loading ? null : appliedThrough(t.parts);
        const lsn = loading ? null : appliedLsn(t.parts);
        return { tenant, behindMs: t.behindMs, pending: t.pending, loading, appliedThrough: through === null ? null : new Date(through).toISOString(), appliedLsn: lsn === null ? null : lsnText(lsn), heartbeatAt: t.heartbeatTs === null ? null : new Date(t.heartbeatTs).toISOString() };
      }),
  };
}

/**
 * The source time before which every change of the tenant is applied: the
 * newest source time applied on any of its partitions, but no later than
 * the newest applied on a partition with events still waiting (those come
 * after it: a partition holds its table's changes in commit order); null
 * when such a partition has applied nothing yet, or none has. With the
 * heartbeat topic read, the bound moves with each beat (every 5 s) even
 * when no table changes. Across partitions it trusts what one connector
 * writes to one broker: a change is in Kafka, and fetched with the others,
 * before the later changes of other tables are.
 */
function appliedThrough(parts: readonly PartitionLag[]): number | null {
  let newest: number | null = null;
  let bound = Infinity;
  for (const p of parts) {
    if (p.sourceTs !== null && (newest === null || p.sourceTs > newest)) newest = p.sourceTs;
    if (p.consumerLag > 0) {
      if (p.sourceTs === null) return null;
      bound = Math.min(bound, p.sourceTs);
    }
  }
  return newest === null ? null : Math.min(newest, bound);
}

/** appliedThrough's rule over WAL positions: the newest position any partition has been through, bounded by those with events waiting. */
function appliedLsn(parts: readonly PartitionLag[]): bigint | null {
  let newest: bigint | null = null;
  let bound: bigint | null = null;
  for (const p of parts) {
    if (p.sourceLsn !== null && (newest === null || p.sourceLsn > newest)) newest = p.sourceLsn;
    if (p.consumerLag > 0) {
      if (p.sourceLsn === null) return null;
      if (bound === null || p.sourceLsn < bound) bound = p.sourceLsn;
    }
  }
  return newest === null ? null : bound !== null && bound < newest ? bound : newest;
}

/** A WAL position as PostgreSQL writes it (`16/B374D848`), and back. */
export function lsnText(n: bigint): string {
  return `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function lsnValue(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new RangeError(`not a WAL position: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** Debezium's `source.snapshot` values of an initial snapshot that has not ended (`last_in_data_collection` ends one table, not the snapshot). */
const SNAPSHOT_GOING_ON = new Set(['first', 'first_in_data_collection', 'true', 'last_in_data_collection']);

/**
 * Whether a tenant's copy is still being loaded: a partition with events
 * waiting has applied none yet; or some partition's newest event applied is
 * a record of the initial snapshot, and either that partition holds more
 * events not yet applied (more of the snapshot, whatever the others say) or
 * no partition has applied anything later (source time) from after the
 * snapshot: its `last` record, a streamed change or a heartbeat (both are
 * written only once the snapshot is over; an incremental snapshot's reads
 * run beside the stream). The `last` record can be on a table the
 * projection does not read, so a projection that reads neither the
 * heartbeat topic nor a table that changes stays `loading` until its first
 * streamed change.
 */
function isLoading(parts: readonly PartitionLag[]): boolean {
  let during = -Infinity;
  let after = -Infinity;
  for (const p of parts) {
    // Nothing applied yet, with events waiting: a topic just found (a tenant onboarded, a table added).
    if (p.snapshot === null && p.sourceTs === null && p.consumerLag > 0) return true;
    if (p.snapshot === null || p.sourceTs === null) continue;
    if (!SNAPSHOT_GOING_ON.has(p.snapshot)) after = Math.max(after, p.sourceTs);
    else if (p.consumerLag > 0) return true;
    else during = Math.max(during, p.sourceTs);
  }
  return during > after;
}
