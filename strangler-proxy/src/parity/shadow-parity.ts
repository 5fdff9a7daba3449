import { rates, SlidingCounts, type Counts } from './window';

export type { MismatchRecord, MismatchStore } from './judge';

export interface ParityStats extends Counts {
  readonly route: string;
  readonly tenant: string;
  readonly windowMs: number;
  readonly mismatchRate: number;
  readonly shadowErrorRate: number;
  readonly servedErrorRate: number;
  readonly primaryMsAvg: number;
  readonly shadowMsAvg: number;
}

/**
 * Shadow parity's figures per route and tenant over sliding windows (the
 * gates judge by them): comparisons and mismatches as the shadow thread
 * reports them (see ParityJudge), and the requests the extracted service
 * served (canary, extracted).
 */
export class ShadowParity {
  private readonly windows = new Map<string, SlidingCounts>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Adds one judged exchange's counts, at the time of its request. */
  count(route: string, tenant: string, counts: Partial<Counts>, atMs: number): void {
    this.window(route, tenant).add(counts, atMs);
  }

  /** Requests served on a route (gates count the extracted service's answers and failures). */
  served(route: string, tenant: string, servedBy: string, status: number): void {
    if (servedBy !== 'extracted') return;
    this.window(route, tenant).add({ served: 1, servedErrors: status >= 500 ? 1 : 0 });
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
