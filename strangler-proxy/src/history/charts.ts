import type { HistoryMark, HistoryRow } from '../control/history-store';
import { FRESH, LATENCY_BUCKETS, mergeInto, PAR, quantileMs, REQ, REQ_LENGTH, PAR_LENGTH } from './layouts';
import type { Timeline } from './windows';

/** One bucket of a route and tenant on the charts. */
export interface RoutePoint {
  readonly at: string;
  /** Requests answered by each target. */
  readonly monolith: number;
  readonly extracted: number;
  readonly fallback: number;
  /** Writes (unsafe methods) by target. */
  readonly writesMonolith: number;
  readonly writesExtracted: number;
  readonly writesFallback: number;
  /** Shadow comparisons, and the share of them that differed. */
  readonly paritySamples: number;
  readonly mismatches: number;
  readonly mismatchRate: number | null;
  /** Of the requests the service was sent (canary, extracted, owned writes), the share it failed (5xx, timeouts, refused: the monolith then answered). */
  readonly served: number;
  readonly serviceErrorRate: number | null;
  /** Latency of each path, ms: the monolith's answers, and the service's (its answers, else its shadow copies). */
  readonly monolithP50: number | null;
  readonly monolithP99: number | null;
  readonly serviceP50: number | null;
  readonly serviceP99: number | null;
}

export interface ServicePoint {
  readonly at: string;
  readonly behindMs: number | null;
  /** Its lag in events: changes fetched and not yet applied (the largest seen in the bucket). */
  readonly pending: number | null;
  readonly loading: boolean;
}

export interface Charts {
  readonly window: string;
  readonly resolutionS: number;
  readonly from: string;
  readonly to: string;
  readonly routes: ReadonlyArray<{ readonly route: string; readonly tenant: string; readonly points: readonly RoutePoint[] }>;
  readonly services: ReadonlyArray<{ readonly service: string; readonly tenant: string; readonly points: readonly ServicePoint[] }>;
  readonly marks: ReadonlyArray<HistoryMark & { readonly at: string }>;
}

const SEP = '\u0000';

/** Sums rows of one kind per subject and tenant (and target), per bucket of the timeline. */
function index(rows: readonly HistoryRow[], tl: Timeline): Map<string, Map<number, Map<string, number[]>>> {
  const out = new Map<string, Map<number, Map<string, number[]>>>();
  for (const r of rows) {
    if (r.atMs < tl.fromMs || r.atMs >= tl.toMs) continue;
    const key = `${r.kind}${SEP}${r.subject}${SEP}${r.tenant}`;
    let byAt = out.get(key);
    if (!byAt) out.set(key, (byAt = new Map()));
    let byTarget = byAt.get(r.atMs);
    if (!byTarget) byAt.set(r.atMs, (byTarget = new Map()));
    const into = byTarget.get(r.target);
    if (into) mergeInto(r.kind, into, r.v);
    else byTarget.set(r.target, [...r.v]);
  }
  return out;
}

const zeros = (n: number) => new Array<number>(n).fill(0);
const rate = (part: number, whole: number) => (whole === 0 ? null : part / whole);
const round = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);

/**
 * The charts of a window: for every route and tenant seen (or the one
 * asked), a point per bucket with requests by target, parity, the service's
 * error rate and each path's p50/p99; for every service and tenant, its
 * freshness; and the marks of what changed. Buckets without rows are zeros
 * (no traffic), never left out, so lines keep their time axis.
 */
export function buildCharts(tl: Timeline, rows: readonly HistoryRow[], marks: readonly HistoryMark[], nowMs: number): Charts {
  const idx = index(rows, tl);
  const pairs = new Map<string, { route: string; tenant: string }>();
  const services = new Map<string, { service: string; tenant: string }>();
  for (const r of rows) {
    if (r.kind === 'freshness') services.set(`${r.subject}${SEP}${r.tenant}`, { service: r.subject, tenant: r.tenant });
    else pairs.set(`${r.subject}${SEP}${r.tenant}`, { route: r.subject, tenant: r.tenant });
  }
  const routes = [...pairs.values()]
    .sort((a, b) => a.route.localeCompare(b.route) || a.tenant.localeCompare(b.tenant))
    .map(({ route, tenant }) => {
      const req = idx.get(`requests${SEP}${route}${SEP}${tenant}`);
      const par = idx.get(`parity${SEP}${route}${SEP}${tenant}`);
      const points = tl.buckets.map((at): RoutePoint => {
        const t = req?.get(at);
        const m = t?.get('monolith') ?? zeros(REQ_LENGTH);
        const e = t?.get('extracted') ?? zeros(REQ_LENGTH);
        const f = t?.get('fallback') ?? zeros(REQ_LENGTH);
        const p = par?.get(at)?.get('') ?? zeros(PAR_LENGTH);
        // The monolith's path: what it answered itself and as a fallback. The service's: its answers, else its shadow copies.
        const monolithLatency = zeros(LATENCY_BUCKETS).map((_, i) => m[REQ.latency + i]! + f[REQ.latency + i]!);
        const served = e[REQ.requests]!;
        const serviceLatency = served > 0 ? e.slice(REQ.latency) : p.slice(PAR.latency);
        return {
          at: new Date(at).toISOString(),
          monolith: m[REQ.requests]!,
          extracted: served,
          fallback: f[REQ.requests]!,
          writesMonolith: m[REQ.writes]!,
          writesExtracted: e[REQ.writes]!,
          writesFallback: f[REQ.writes]!,
          paritySamples: p[PAR.samples]!,
          mismatches: p[PAR.mismatches]!,
          mismatchRate: rate(p[PAR.mismatches]!, p[PAR.samples]!),
          served: p[PAR.served]!,
          serviceErrorRate: rate(p[PAR.servedErrors]!, p[PAR.served]!),
          monolithP50: round(quantileMs(monolithLatency, 0.5)),
          monolithP99: round(quantileMs(monolithLatency, 0.99)),
          serviceP50: round(quantileMs(serviceLatency, 0.5)),
          serviceP99: round(quantileMs(serviceLatency, 0.99)),
        };
      });
      return { route, tenant, points };
    });
  const freshness = [...services.values()]
    .sort((a, b) => a.service.localeCompare(b.service) || a.tenant.localeCompare(b.tenant))
    .map(({ service, tenant }) => {
      const f = idx.get(`freshness${SEP}${service}${SEP}${tenant}`);
      return {
        service,
        tenant,
        points: tl.buckets.map((at): ServicePoint => {
          const v = f?.get(at)?.get('');
          return { at: new Date(at).toISOString(), behindMs: v ? v[FRESH.behindMs]! : null, pending: v ? (v[FRESH.pending] ?? 0) : null, loading: v ? v[FRESH.loading]! > 0 : false };
        }),
      };
    });
  return {
    window: tl.window,
    resolutionS: tl.resolutionS,
    from: new Date(tl.fromMs).toISOString(),
    to: new Date(Math.min(tl.toMs, nowMs)).toISOString(),
    routes,
    services: freshness,
    marks: marks.filter((m) => m.atMs >= tl.fromMs).map((m) => ({ ...m, at: new Date(m.atMs).toISOString() })),
  };
}
