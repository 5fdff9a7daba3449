/**
 * The two per-request metrics (request count and duration by route, target,
 * tenant), kept in plain typed arrays and rendered in Prometheus text format
 * at scrape time. prom-client re-hashes label sets on every observation;
 * this costs three map lookups per request instead (route, tenant, target:
 * no label string is built per request).
 */
import type { RequestTotals } from './history/recorder';
import { LATENCY_BOUNDS_S as BUCKETS } from './history/layouts';

interface Series {
  readonly labels: string;
  readonly codes: Float64Array; // 2xx, 3xx, 4xx, 5xx
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  /** Requests with a method that is not safe (neither GET, HEAD, OPTIONS nor TRACE). */
  writes: number;
  readonly route: string;
  readonly tenant: string;
  readonly target: string;
}

const CODES = ['2xx', '3xx', '4xx', '5xx'];

export class HotMetrics {
  /** Every series, in the order first seen (what render() walks). */
  private readonly series: Series[] = [];
  /** route -> tenant -> target -> series. */
  private readonly index = new Map<string, Map<string, Map<string, Series>>>();

  observe(route: string, target: string, tenant: string, status: number, seconds: number, write: boolean): void {
    let s = this.index.get(route)?.get(tenant)?.get(target);
    if (s === undefined) s = this.add(route, target, tenant);
    const c = status >= 500 ? 3 : status >= 400 ? 2 : status >= 300 ? 1 : 0;
    s.codes[c]!++;
    s.sum += seconds;
    s.count++;
    if (write) s.writes++;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    s.buckets[i]!++;
  }

  /** Every series' totals since start (the history recorder takes differences). */
  *totals(): IterableIterator<RequestTotals> {
    for (const s of this.series) {
      yield { route: s.route, tenant: s.tenant, target: s.target, requests: s.count, writes: s.writes, errors: s.codes[3]!, latency: s.buckets };
    }
  }

  private add(route: string, target: string, tenant: string): Series {
    const s: Series = {
      labels: `route="${esc(route)}",target="${esc(target)}",tenant="${esc(tenant)}"`,
      codes: new Float64Array(4),
      // One bucket past the last bound (+Inf), so that a slow request is counted where it fell.
      buckets: new Float64Array(BUCKETS.length + 1),
      sum: 0,
      count: 0,
      writes: 0,
      route,
      tenant,
      target,
    };
    let byTenant = this.index.get(route);
    if (byTenant === undefined) this.index.set(route, (byTenant = new Map()));
    let byTarget = byTenant.get(tenant);
    if (byTarget === undefined) byTenant.set(tenant, (byTarget = new Map()));
    byTarget.set(target, s);
    this.series.push(s);
    return s;
  }

  render(): string {
    const out: string[] = [
      '# HELP strangler_proxy_requests_total Requests answered, by route, target, tenant and status class',
      '# TYPE strangler_proxy_requests_total counter',
    ];
    for (const s of this.series) {
      for (let i = 0; i < 4; i++) if (s.codes[i]! > 0) out.push(`strangler_proxy_requests_total{${s.labels},code="${CODES[i]}"} ${s.codes[i]}`);
    }
    out.push(
      '# HELP strangler_proxy_write_requests_total Requests with a method that is not safe (writes), by route, target and tenant',
      '# TYPE strangler_proxy_write_requests_total counter',
    );
    for (const s of this.series) if (s.writes > 0) out.push(`strangler_proxy_write_requests_total{${s.labels}} ${s.writes}`);
    out.push(
      '# HELP strangler_proxy_request_duration_seconds Time from request to the end of the response, by route, target and tenant',
      '# TYPE strangler_proxy_request_duration_seconds histogram',
    );
    for (const s of this.series) {
      let cumulative = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += s.buckets[i]!;
        out.push(`strangler_proxy_request_duration_seconds_bucket{${s.labels},le="${BUCKETS[i]}"} ${cumulative}`);
      }
      out.push(`strangler_proxy_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      out.push(`strangler_proxy_request_duration_seconds_sum{${s.labels}} ${s.sum}`);
      out.push(`strangler_proxy_request_duration_seconds_count{${s.labels}} ${s.count}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/**
 * A counter with two labels kept off prom-client, for counts taken on the
 * request thread for many requests (shadow copies by route and outcome):
 * two map lookups per increment, no label set hashed.
 */
export class HotCounter {
  private readonly values = new Map<string, Map<string, number>>();

  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly [string, string],
  ) {}

  inc(a: string, b: string): void {
    let byB = this.values.get(a);
    if (byB === undefined) this.values.set(a, (byB = new Map()));
    byB.set(b, (byB.get(b) ?? 0) + 1);
  }

  render(): string {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    const [la, lb] = this.labelNames;
    for (const [a, byB] of this.values) for (const [b, v] of byB) out.push(`${this.name}{${la}="${esc(a)}",${lb}="${esc(b)}"} ${v}`);
    return `${out.join('\n')}\n`;
  }
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
