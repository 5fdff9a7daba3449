import type { HistoryMark, HistoryRow } from '../control/history-store';
import { REQ } from './layouts';
import type { Timeline } from './windows';

/** A route as the progress view sees it: its service and its setting per tenant. */
export interface ProgressRoute {
  readonly id: string;
  readonly service: string | null;
  readonly modes: Readonly<Record<string, { readonly mode: string; readonly percent?: number }>>;
  /** The domain it belongs to, when it belongs to one. */
  readonly domain: string | null;
}

export interface ProgressDomain {
  readonly domain: string;
  readonly service: string;
  readonly owners: Readonly<Record<string, 'monolith' | 'service'>>;
}

interface Share {
  readonly requests: number;
  /** Requests the new services answered. */
  readonly extracted: number;
  readonly share: number | null;
  readonly writes: number;
  readonly writesExtracted: number;
  readonly writeShare: number | null;
  readonly points: ReadonlyArray<{ readonly at: string; readonly requests: number; readonly share: number | null; readonly writes: number; readonly writeShare: number | null }>;
}

export interface TenantProgress extends Share {
  readonly tenant: string;
  readonly routes: {
    /** Served by their service (extracted, or in a domain the service owns for the tenant). */
    readonly moved: readonly string[];
    /** In shadow or canary: on their way. */
    readonly moving: ReadonlyArray<{ readonly id: string; readonly mode: string }>;
    /** Still on the monolith (with or without a service to move to). */
    readonly monolith: readonly string[];
  };
  readonly domains: { readonly service: readonly string[]; readonly monolith: readonly string[] };
}

export interface Progress {
  readonly window: string;
  readonly resolutionS: number;
  readonly from: string;
  readonly to: string;
  readonly overall: Share & {
    readonly routes: { readonly moved: number; readonly moving: number; readonly monolith: number; readonly total: number };
    readonly domains: { readonly service: number; readonly monolith: number; readonly total: number };
  };
  readonly tenants: readonly TenantProgress[];
  /** How each route and domain moved: the audit log's changes and hand-overs, newest first. */
  readonly trail: ReadonlyArray<HistoryMark & { readonly at: string }>;
}

const rate = (part: number, whole: number) => (whole === 0 ? null : part / whole);

/** Requests and writes by bucket, summed over routes and targets, for the tenants given (all when null). */
function share(tl: Timeline, rows: readonly HistoryRow[], tenant: string | null): Share {
  const per = new Map<number, { requests: number; extracted: number; writes: number; writesExtracted: number }>();
  let requests = 0;
  let extracted = 0;
  let writes = 0;
  let writesExtracted = 0;
  for (const r of rows) {
    if (r.kind !== 'requests' || (tenant !== null && r.tenant !== tenant) || r.atMs < tl.fromMs || r.atMs >= tl.toMs) continue;
    let b = per.get(r.atMs);
    if (!b) per.set(r.atMs, (b = { requests: 0, extracted: 0, writes: 0, writesExtracted: 0 }));
    const n = r.v[REQ.requests] ?? 0;
    const w = r.v[REQ.writes] ?? 0;
    const ext = r.target === 'extracted';
    b.requests += n;
    b.writes += w;
    requests += n;
    writes += w;
    if (ext) {
      b.extracted += n;
      b.writesExtracted += w;
      extracted += n;
      writesExtracted += w;
    }
  }
  return {
    requests,
    extracted,
    share: rate(extracted, requests),
    writes,
    writesExtracted,
    writeShare: rate(writesExtracted, writes),
    points: tl.buckets.map((at) => {
      const b = per.get(at);
      return { at: new Date(at).toISOString(), requests: b?.requests ?? 0, share: b ? rate(b.extracted, b.requests) : null, writes: b?.writes ?? 0, writeShare: b ? rate(b.writesExtracted, b.writes) : null };
    }),
  };
}

/**
 * How far the migration is: per tenant and overall, the share of requests
 * and of writes the new services answered over the window, which routes and
 * domains moved and which are still on the monolith, and the audit trail of
 * how they moved.
 */
export function buildProgress(
  tl: Timeline,
  rows: readonly HistoryRow[],
  tenants: readonly string[],
  routes: readonly ProgressRoute[],
  domains: readonly ProgressDomain[],
  trail: readonly HistoryMark[],
  nowMs: number,
): Progress {
  const owners = new Map(domains.map((d) => [d.domain, d]));
  const perTenant = tenants.map((tenant): TenantProgress => {
    const moved: string[] = [];
    const moving: Array<{ id: string; mode: string }> = [];
    const monolith: string[] = [];
    for (const r of routes) {
      const owned = r.domain !== null && owners.get(r.domain)?.owners[tenant] === 'service';
      const m = r.modes[tenant];
      if (r.service !== null && (owned || m?.mode === 'extracted')) moved.push(r.id);
      else if (r.service !== null && (m?.mode === 'shadow' || m?.mode === 'canary')) moving.push({ id: r.id, mode: m.mode === 'canary' ? `canary ${m.percent}%` : m.mode });
      else monolith.push(r.id);
    }
    return {
      tenant,
      ...share(tl, rows, tenant),
      routes: { moved, moving, monolith },
      domains: {
        service: domains.filter((d) => d.owners[tenant] === 'service').map((d) => d.domain),
        monolith: domains.filter((d) => d.owners[tenant] !== 'service').map((d) => d.domain),
      },
    };
  });
  const count = (pick: (t: TenantProgress) => number) => perTenant.reduce((s, t) => s + pick(t), 0);
  return {
    window: tl.window,
    resolutionS: tl.resolutionS,
    from: new Date(tl.fromMs).toISOString(),
    to: new Date(Math.min(tl.toMs, nowMs)).toISOString(),
    overall: {
      ...share(tl, rows, null),
      routes: { moved: count((t) => t.routes.moved.length), moving: count((t) => t.routes.moving.length), monolith: count((t) => t.routes.monolith.length), total: routes.length * tenants.length },
      domains: { service: count((t) => t.domains.service.length), monolith: count((t) => t.domains.monolith.length), total: domains.length * tenants.length },
    },
    tenants: perTenant,
    trail: [...trail].sort((a, b) => b.atMs - a.atMs).map((m) => ({ ...m, at: new Date(m.atMs).toISOString() })),
  };
}
