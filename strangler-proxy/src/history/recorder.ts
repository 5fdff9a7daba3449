import type { HistoryRow, HistoryStore } from '../control/history-store';
import type { Counts } from '../parity/window';
import { FRESH, FRESH_LENGTH, type Kind, LENGTH, latencyBucket, mergeInto, PAR, REQ } from './layouts';
import { RESOLUTIONS, bucketOf } from './windows';

/** One series of the request counters as HotMetrics holds it (cumulative since start). */
export interface RequestTotals {
  readonly route: string;
  readonly tenant: string;
  readonly target: string;
  readonly requests: number;
  readonly writes: number;
  readonly errors: number;
  /** Per latency bucket (not cumulative). */
  readonly latency: ArrayLike<number>;
}

export interface RecorderSources {
  /** Every request series, cumulative (the proxy's request metrics). */
  readonly requests: () => Iterable<RequestTotals>;
  /** Each service's last freshness figures per tenant. */
  readonly freshness: () => Iterable<{ readonly service: string; readonly tenant: string; readonly behindMs: number; readonly loading: boolean; readonly pending: number | null }>;
}

const SEP = '\u0000';

/**
 * This process's part of the history: every `intervalMs` it takes what was
 * counted since the last time (requests by route, tenant and target, from
 * the request metrics' totals; shadow comparisons and what the service
 * served, as they are reported; each service's freshness), and adds it to
 * the control store at every resolution. Nothing here runs on the request
 * path but two map lookups for a comparison or a served request. A flush
 * that fails keeps its figures for the next one, up to one retention bucket.
 */
export class HistoryRecorder {
  private readonly lastTotals = new Map<string, { requests: number; writes: number; errors: number; latency: number[] }>();
  private pending = new Map<string, { kind: Kind; subject: string; tenant: string; target: string; v: number[] }>();
  private timer: NodeJS.Timeout | null = null;
  private pruneAt = 0;
  private flushing: Promise<void> | null = null;
  private failures = 0;

  constructor(
    private readonly store: HistoryStore,
    private readonly sources: RecorderSources,
    private readonly onError: (err: unknown, failures: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(intervalMs: number): void {
    this.stop();
    // The first totals are a baseline: what was counted before start is not a burst in its first bucket.
    this.takeRequests(false);
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A shadow comparison's counts (as the shadow thread reports them). */
  parity(route: string, tenant: string, c: Partial<Counts>): void {
    const v = this.row('parity', route, tenant, '');
    v[PAR.samples]! += c.samples ?? 0;
    v[PAR.mismatches]! += c.mismatches ?? 0;
    v[PAR.filtered]! += c.noiseFiltered ?? 0;
    v[PAR.shadowErrors]! += c.shadowErrors ?? 0;
    if (c.samples && c.shadowMs !== undefined) v[PAR.latency + latencyBucket(c.shadowMs / 1000)]! += 1;
  }

  /** A request the extracted service answered or failed (canary, extracted, owned writes). */
  served(route: string, tenant: string, servedBy: string, status: number): void {
    if (servedBy !== 'extracted') return;
    const v = this.row('parity', route, tenant, '');
    v[PAR.served]! += 1;
    if (status >= 500) v[PAR.servedErrors]! += 1;
  }

  /** Writes what was counted since the last flush; concurrent calls share one. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    this.takeRequests(true);
    for (const f of this.sources.freshness()) {
      const v = this.row('freshness', f.service, f.tenant, '');
      v[FRESH.behindMs] = Math.max(v[FRESH.behindMs]!, f.behindMs);
      v[FRESH.loading] = Math.max(v[FRESH.loading]!, f.loading ? 1 : 0);
      v[FRESH.pending] = Math.max(v[FRESH.pending]!, f.pending ?? 0);
    }
    const batch = this.pending;
    this.pending = new Map();
    const at = this.now();
    const rows: HistoryRow[] = [];
    for (const p of batch.values()) {
      if (p.kind !== 'freshness' && p.v.every((x) => x === 0)) continue;
      for (const r of RESOLUTIONS) rows.push({ resolutionS: r.seconds, atMs: bucketOf(at, r.seconds), kind: p.kind, subject: p.subject, tenant: p.tenant, target: p.target, v: p.v });
    }
    try {
      await this.store.add(rows);
      this.failures = 0;
      if (at >= this.pruneAt) {
        this.pruneAt = at + 60_000;
        await this.store.prune(at);
      }
    } catch (err) {
      this.failures++;
      // Kept for the next flush (merged with what comes meanwhile), so an outage of the store loses nothing it can recover.
      for (const [key, p] of batch) {
        const into = this.pending.get(key);
        if (into) mergeInto(p.kind, into.v, p.v);
        else this.pending.set(key, p);
      }
      this.onError(err, this.failures);
    }
  }

  private takeRequests(record: boolean): void {
    for (const t of this.sources.requests()) {
      const key = `${t.route}${SEP}${t.tenant}${SEP}${t.target}`;
      const last = this.lastTotals.get(key);
      const now = { requests: t.requests, writes: t.writes, errors: t.errors, latency: Array.from(t.latency) };
      this.lastTotals.set(key, now);
      if (!record) continue;
      const v = this.row('requests', t.route, t.tenant, t.target);
      v[REQ.requests]! += t.requests - (last?.requests ?? 0);
      v[REQ.writes]! += t.writes - (last?.writes ?? 0);
      v[REQ.errors]! += t.errors - (last?.errors ?? 0);
      for (let i = 0; i < now.latency.length; i++) v[REQ.latency + i]! += now.latency[i]! - (last?.latency[i] ?? 0);
    }
  }

  private row(kind: Kind, subject: string, tenant: string, target: string): number[] {
    const key = `${kind}${SEP}${subject}${SEP}${tenant}${SEP}${target}`;
    let p = this.pending.get(key);
    if (!p) {
      p = { kind, subject, tenant, target, v: new Array<number>(kind === 'freshness' ? FRESH_LENGTH : LENGTH[kind]).fill(0) };
      this.pending.set(key, p);
    }
    return p.v;
  }
}
