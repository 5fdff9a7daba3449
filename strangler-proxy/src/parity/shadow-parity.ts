import { rates, SlidingCounts, type Counts } from './window';

export type { MismatchRecord } from './judge';

export interface ParityStats extends Counts {
  readonly route: string;
  readonly tenant: string;
  readonly windowMs: number;
  readonly matched: number;
  readonly mismatchRate: number;
  readonly filteredShare: number;
  readonly shadowErrorRate: number;
  readonly servedErrorRate: number;
  readonly primaryMsAvg: number;
  readonly shadowMsAvg: number;
}

/** Counts of one route and tenant in one second, as one process hands them to the others. */
export interface ParityDelta {
  readonly route: string;
  readonly tenant: string;
  readonly atMs: number;
  readonly counts: Partial<Counts>;
}

/**
 * Shadow parity's figures per route and tenant over sliding windows (the
 * gates judge by them): comparisons and mismatches as the shadow thread
 * reports them (see ParityJudge), and the requests the extracted service
 * served (canary, extracted).
 */
export class ShadowParity {
  private readonly windows = new Map<string, SlidingCounts>();
  /** What this process counted since the last take(), per route, tenant and second (kept only when shared). */
  private outbox: Map<string, ParityDelta> | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  /** Keeps what this process counts for take(), so that other processes can apply() it (cluster workers). */
  share(): void {
    this.outbox ??= new Map();
  }

  /** Adds one judged exchange's counts, at the time of its request. */
  count(route: string, tenant: string, counts: Partial<Counts>, atMs: number): void {
    this.window(route, tenant).add(counts, atMs);
    if (this.outbox) this.keep(route, tenant, counts, atMs);
  }

  /** Requests served on a route (gates count the extracted service's answers and failures). */
  served(route: string, tenant: string, servedBy: string, status: number): void {
    if (servedBy !== 'extracted') return;
    const delta = { served: 1, servedErrors: status >= 500 ? 1 : 0 };
    this.window(route, tenant).add(delta);
    if (this.outbox) this.keep(route, tenant, delta, this.now());
  }

  /** What was counted here since the last call, summed per route, tenant and second. */
  take(): ParityDelta[] {
    if (!this.outbox || this.outbox.size === 0) return [];
    const out = [...this.outbox.values()];
    this.outbox.clear();
    return out;
  }

  /** Adds what another process counted (its take()), at the times it was counted. */
  apply(deltas: readonly ParityDelta[]): void {
    for (const d of deltas) this.window(d.route, d.tenant).add(d.counts, d.atMs);
  }

  private keep(route: string, tenant: string, counts: Partial<Counts>, atMs: number): void {
    const second = Math.floor(atMs / 1000);
    const key = `${route}\u0000${tenant}\u0000${second}`;
    let d = this.outbox!.get(key);
    if (!d) {
      d = { route, tenant, atMs: second * 1000, counts: {} };
      this.outbox!.set(key, d);
    }
    const sum = d.counts as Record<string, number>;
    for (const k in counts) sum[k] = (sum[k] ?? 0) + counts[k as keyof Counts]!;
  }

  stats(route: string, tenant: string, windowMs: number, sinceMs = 0): ParityStats {
    const c = this.windows.get(`${route}\u0000${tenant}`)?.sum(windowMs, sinceMs) ?? new SlidingCounts(this.now).sum(windowMs);
    return { route, tenant, windowMs, ...c, ...rates(c) };
  }

  /** Every route and tenant seen, over one window. */
  all(windowMs: number): ParityStats[] {
    return [...this.windows.keys()].map((k) => {
      const [route, tenant] = k.split('\u0000') as [string, string];
      return this.stats(route, tenant, windowMs);
    });
  }

  private window(route: string, tenant: string): SlidingCounts {
    const key = `${route}\u0000${tenant}`;
    let w = this.windows.get(key);
    if (!w) {
      w = new SlidingCounts(this.now);
      this.windows.set(key, w);
    }
    return w;
  }
}
