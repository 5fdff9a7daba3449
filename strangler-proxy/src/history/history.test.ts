import type { HistoryRow } from '../control/history-store';
import { buildCharts } from './charts';
import { LATENCY_BUCKETS, latencyBucket, mergeInto, PAR, PAR_LENGTH, quantileMs, REQ, REQ_LENGTH } from './layouts';
import { buildProgress } from './progress';
import { bucketOf, timeline } from './windows';

const NOW = Date.parse('2026-12-08T10:00:02.500Z');

function req(atMs: number, route: string, tenant: string, target: string, requests: number, writes = 0, latencyS = 0.004, errors = 0): HistoryRow {
  const v = new Array<number>(REQ_LENGTH).fill(0);
  v[REQ.requests] = requests;
  v[REQ.writes] = writes;
  v[REQ.errors] = errors;
  v[REQ.latency + latencyBucket(latencyS)] = requests;
  return { resolutionS: 5, atMs, kind: 'requests', subject: route, tenant, target, v };
}

describe('history layouts', () => {
  it('merges counts by adding and gauges by keeping the largest, a shorter side counting as zeros', () => {
    expect(mergeInto('requests', [1, 2, 3], [10, 20, 30, 40])).toEqual([11, 22, 33, 40]);
    expect(mergeInto('freshness', [500, 0], [200, 1])).toEqual([500, 1]);
  });

  it('computes quantiles from bucket counts as histogram_quantile does', () => {
    const counts = new Array<number>(LATENCY_BUCKETS).fill(0);
    expect(quantileMs(counts, 0.5)).toBeNull();
    counts[latencyBucket(0.004)] = 100; // all in (2.5 ms, 5 ms]
    expect(quantileMs(counts, 0.5)).toBeCloseTo(3.75, 5);
    expect(quantileMs(counts, 0.99)).toBeCloseTo(4.975, 5);
    counts[latencyBucket(60)] = 100; // past the last bound: the last bound
    expect(quantileMs(counts, 0.99)).toBe(10_000);
    expect(latencyBucket(0.0005)).toBe(0);
    expect(latencyBucket(11)).toBe(LATENCY_BUCKETS - 1);
  });

  it('lays a window out in buckets of the finest resolution that covers it', () => {
    const tl = timeline('15m', NOW);
    expect(tl.resolutionS).toBe(5);
    expect(tl.buckets).toHaveLength(180);
    expect(tl.buckets.at(-1)).toBe(bucketOf(NOW, 5));
    expect(timeline('6h', NOW)).toMatchObject({ resolutionS: 60 });
    expect(timeline('6h', NOW).buckets).toHaveLength(360);
    expect(timeline('7d', NOW)).toMatchObject({ resolutionS: 600 });
  });
});

describe('charts', () => {
  it('gives each route and tenant a point per bucket: requests by target, parity, service errors, both paths\' latency; zeros where nothing came', () => {
    const tl = timeline('15m', NOW);
    const last = tl.buckets.at(-1)!;
    const before = tl.buckets.at(-2)!;
    const parity = new Array<number>(PAR_LENGTH).fill(0);
    parity[PAR.samples] = 10;
    parity[PAR.mismatches] = 1;
    parity[PAR.served] = 4;
    parity[PAR.servedErrors] = 1;
    parity[PAR.latency + latencyBucket(0.02)] = 10;
    const rows: HistoryRow[] = [
      req(before, 'rooms', 'acme', 'monolith', 8, 2),
      // Two replicas' rows of one bucket add up.
      req(last, 'rooms', 'acme', 'monolith', 1),
      req(last, 'rooms', 'acme', 'monolith', 1),
      req(last, 'rooms', 'acme', 'extracted', 6, 3, 0.2),
      req(last, 'rooms', 'acme', 'fallback', 1),
      { resolutionS: 5, atMs: before, kind: 'parity', subject: 'rooms', tenant: 'acme', target: '', v: parity },
      { resolutionS: 5, atMs: last, kind: 'freshness', subject: 'messaging', tenant: 'acme', target: '', v: [1200, 0, 7] },
      // Outside the window: ignored.
      req(tl.fromMs - 5000, 'rooms', 'acme', 'monolith', 99),
    ];
    const c = buildCharts(tl, rows, [{ atMs: last, kind: 'flip', route: 'rooms', domain: null, tenant: 'acme', text: 'rooms [acme]: shadow -> extracted' }], NOW);
    expect(c.routes).toHaveLength(1);
    const points = c.routes[0]!.points;
    expect(points).toHaveLength(180);
    expect(points[0]).toMatchObject({ monolith: 0, extracted: 0, fallback: 0, mismatchRate: null, monolithP50: null });
    expect(points.at(-2)).toMatchObject({ monolith: 8, writesMonolith: 2, paritySamples: 10, mismatches: 1, mismatchRate: 0.1, served: 4, serviceErrorRate: 0.25 });
    // No service answers in that bucket: the service's path is its shadow copies' latency.
    expect(points.at(-2)!.serviceP50).toBeCloseTo(17.5, 1);
    expect(points.at(-1)).toMatchObject({ monolith: 2, extracted: 6, fallback: 1, writesExtracted: 3 });
    expect(points.at(-1)!.serviceP50).toBeCloseTo(175, 0);
    expect(c.services).toEqual([{ service: 'messaging', tenant: 'acme', points: expect.any(Array) }]);
    expect(c.services[0]!.points.at(-1)).toMatchObject({ behindMs: 1200, pending: 7, loading: false });
    expect(c.services[0]!.points[0]).toMatchObject({ behindMs: null, pending: null });
    expect(c.marks).toEqual([expect.objectContaining({ kind: 'flip', at: new Date(last).toISOString() })]);
  });
});

describe('progress', () => {
  it('gives the share of requests and writes the new services answered, per tenant and overall, and what moved', () => {
    const tl = timeline('15m', NOW);
    const last = tl.buckets.at(-1)!;
    const rows = [
      req(last, 'rooms', 'acme', 'extracted', 3, 1),
      req(last, 'rooms', 'acme', 'monolith', 1, 1),
      req(last, 'users', 'acme', 'monolith', 4),
      req(last, 'rooms', 'globex', 'monolith', 2, 2),
    ];
    const routes = [
      { id: 'rooms', service: 'messaging', domain: 'messaging', modes: { acme: { mode: 'extracted' }, globex: { mode: 'canary', percent: 10 } } },
      { id: 'messages-post', service: 'messaging', domain: 'messaging', modes: { acme: { mode: 'monolith' }, globex: { mode: 'monolith' } } },
      { id: 'users', service: null, domain: null, modes: { acme: { mode: 'monolith' }, globex: { mode: 'monolith' } } },
    ];
    const domains = [{ domain: 'messaging', service: 'messaging', owners: { acme: 'service' as const, globex: 'monolith' as const } }];
    const p = buildProgress(tl, rows, ['acme', 'globex'], routes, domains, [{ atMs: last - 1000, kind: 'flip', route: 'rooms', domain: null, tenant: 'acme', text: 'x' }, { atMs: last, kind: 'handover', route: null, domain: 'messaging', tenant: 'acme', text: 'y' }], NOW);
    const acme = p.tenants.find((t) => t.tenant === 'acme')!;
    expect(acme).toMatchObject({ requests: 8, extracted: 3, share: 3 / 8, writes: 2, writesExtracted: 1, writeShare: 0.5 });
    // A route in a domain its service owns for the tenant has moved, whatever its mode.
    expect(acme.routes).toEqual({ moved: ['rooms', 'messages-post'], moving: [], monolith: ['users'] });
    expect(acme.domains).toEqual({ service: ['messaging'], monolith: [] });
    const globex = p.tenants.find((t) => t.tenant === 'globex')!;
    expect(globex).toMatchObject({ share: 0, writeShare: 0 });
    expect(globex.routes).toEqual({ moved: [], moving: [{ id: 'rooms', mode: 'canary 10%' }], monolith: ['messages-post', 'users'] });
    expect(p.overall).toMatchObject({ requests: 10, extracted: 3, share: 0.3, writes: 4, writeShare: 0.25, routes: { moved: 2, moving: 1, monolith: 3, total: 6 }, domains: { service: 1, monolith: 1, total: 2 } });
    expect(p.overall.points.at(-1)).toMatchObject({ requests: 10, share: 0.3 });
    expect(p.overall.points[0]).toMatchObject({ requests: 0, share: null });
    expect(p.trail.map((m) => m.kind)).toEqual(['handover', 'flip']);
  });
});
