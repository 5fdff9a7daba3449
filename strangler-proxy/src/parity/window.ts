/** Counters of one route and tenant over sliding windows: one bucket per second, ten minutes kept. */
export interface Counts {
  /** Shadow comparisons made. */
  samples: number;
  mismatches: number;
  /**
   * Comparisons whose every difference lay on learned noise: not mismatches,
   * and not matches either (what was left out was never compared).
   */
  noiseFiltered: number;
  /** Pairs of monolith answers thrown away by noise learning: the data changed between the two asks. */
  noiseDiscarded: number;
  /** Shadow copies that failed, timed out or answered 5xx. */
  shadowErrors: number;
  /** Primary answers that were 5xx. */
  primaryErrors: number;
  /** Requests the extracted service served (canary, extracted), and how many of those failed. */
  served: number;
  servedErrors: number;
  primaryMs: number;
  shadowMs: number;
}

const zero = (): Counts => ({ samples: 0, mismatches: 0, noiseFiltered: 0, noiseDiscarded: 0, shadowErrors: 0, primaryErrors: 0, served: 0, servedErrors: 0, primaryMs: 0, shadowMs: 0 });

export const WINDOW_SECONDS = 600;

export class SlidingCounts {
  private readonly buckets: Array<{ second: number; c: Counts }> = [];

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Adds to the bucket of the second `atMs` falls in (now by default). A
   * shadow comparison is counted at the time of its request, not of its
   * verdict, so evidence gathered before a route's setting changed never
   * counts for the new setting, however late the comparison finished.
   */
  add(delta: Partial<Counts>, atMs?: number): void {
    const now = Math.floor(this.now() / 1000);
    const second = atMs === undefined ? now : Math.min(now, Math.floor(atMs / 1000));
    if (second <= now - WINDOW_SECONDS) return;
    let i = this.buckets.length - 1;
    while (i >= 0 && this.buckets[i]!.second > second) i--;
    let bucket = this.buckets[i];
    if (!bucket || bucket.second !== second) {
      bucket = { second, c: zero() };
      this.buckets.splice(i + 1, 0, bucket);
      while (this.buckets.length > 0 && this.buckets[0]!.second <= now - WINDOW_SECONDS) this.buckets.shift();
    }
    for (const k in delta) bucket.c[k as keyof Counts] += delta[k as keyof Counts]!;
  }

  /**
   * Sums over the last `windowMs`, and only from `sinceMs` on when given. A
   * bucket is a whole second: the second `sinceMs` falls in is left out
   * unless `sinceMs` is its start, since part of it came before.
   */
  sum(windowMs: number, sinceMs = 0): Counts {
    const from = Math.max(Math.floor((this.now() - windowMs) / 1000), Math.ceil(sinceMs / 1000));
    const out = zero();
    for (const b of this.buckets) {
      if (b.second < from) continue;
      for (const k in b.c) out[k as keyof Counts] += b.c[k as keyof Counts];
    }
    return out;
  }
}

export function rates(c: Counts) {
  return {
    /** Comparisons that matched with nothing left out. */
    matched: c.samples - c.mismatches - c.noiseFiltered,
    mismatchRate: c.samples === 0 ? 0 : c.mismatches / c.samples,
    /** Share of comparisons that matched only by leaving learned noise out: what gates bound. */
    filteredShare: c.samples === 0 ? 0 : c.noiseFiltered / c.samples,
    shadowErrorRate: c.samples + c.shadowErrors === 0 ? 0 : c.shadowErrors / (c.samples + c.shadowErrors),
    servedErrorRate: c.served === 0 ? 0 : c.servedErrors / c.served,
    primaryMsAvg: c.samples === 0 ? 0 : c.primaryMs / c.samples,
    shadowMsAvg: c.samples === 0 ? 0 : c.shadowMs / c.samples,
  };
}
