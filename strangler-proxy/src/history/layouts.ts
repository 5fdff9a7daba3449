/**
 * What one row of the proxy's history holds (metric_history.v), per kind: a
 * fixed layout of numbers, merged across processes and into coarser
 * resolutions by adding counts and keeping the largest gauge. Latencies are
 * kept as histogram bucket counts (the bounds of the request-duration
 * histogram), so that percentiles stay exact to a bucket whatever was merged.
 */
export const LATENCY_BOUNDS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Buckets kept: one per bound, and one past the last (+Inf). */
export const LATENCY_BUCKETS = LATENCY_BOUNDS_S.length + 1;

export type Kind = 'requests' | 'parity' | 'freshness';

/** requests (subject: route id, target: monolith | extracted | fallback). */
export const REQ = { requests: 0, writes: 1, errors: 2, latency: 3 } as const;
export const REQ_LENGTH = REQ.latency + LATENCY_BUCKETS;

/** parity (subject: route id, target ''): comparisons in shadow, what the service served, the shadow copies' latency. */
export const PAR = { samples: 0, mismatches: 1, filtered: 2, shadowErrors: 3, served: 4, servedErrors: 5, latency: 6 } as const;
export const PAR_LENGTH = PAR.latency + LATENCY_BUCKETS;

/** freshness (subject: service, target ''): gauges, the largest seen in the bucket. */
export const FRESH = { behindMs: 0, loading: 1, pending: 2 } as const;
export const FRESH_LENGTH = 3;

export const LENGTH: Record<Kind, number> = { requests: REQ_LENGTH, parity: PAR_LENGTH, freshness: FRESH_LENGTH };

/** How a kind merges: counts add, gauges keep the largest. */
export const MERGE: Record<Kind, 'sum' | 'max'> = { requests: 'sum', parity: 'sum', freshness: 'max' };

/** Adds `b` into `a` (same kind), in place; a shorter side counts as zeros. */
export function mergeInto(kind: Kind, a: number[], b: readonly number[]): number[] {
  const max = MERGE[kind] === 'max';
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    a[i] = max ? Math.max(x, b[i]!) : x + b[i]!;
  }
  return a;
}

/** The index of the latency bucket a duration in seconds falls in. */
export function latencyBucket(seconds: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_S.length; i++) if (seconds <= LATENCY_BOUNDS_S[i]!) return i;
  return LATENCY_BOUNDS_S.length;
}

/**
 * The q-quantile (0-1) in milliseconds of a histogram's bucket counts, as
 * Prometheus's histogram_quantile computes it: linear within the bucket it
 * falls in; past the last bound, the last bound. Null without observations.
 */
export function quantileMs(counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) total += counts[i] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && seen + c >= rank) {
      if (i === LATENCY_BOUNDS_S.length) return LATENCY_BOUNDS_S[i - 1]! * 1000;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_S[i - 1]!;
      const upper = LATENCY_BOUNDS_S[i]!;
      return (lower + (upper - lower) * ((rank - seen) / c)) * 1000;
    }
    seen += c;
  }
  return LATENCY_BOUNDS_S[LATENCY_BOUNDS_S.length - 1]! * 1000;
}
