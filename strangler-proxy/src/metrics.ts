import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BreakerState } from './forward/breaker';

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The proxy's Prometheus metrics, on its own registry (several proxies can
 * live in one process, as in tests). Label children are cached so the hot
 * path does one map lookup per request, not a label hash.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'target' | 'tenant' | 'code'>;
  private readonly duration: Histogram<'route' | 'target' | 'tenant'>;
  readonly fallbacks: Counter<'route' | 'service' | 'reason'>;
  private readonly breaker: Gauge<'service'>;
  readonly shadow: Counter<'route' | 'outcome'>;
  readonly reloads: Counter<'result'>;
  readonly refused: Counter<'code'>;
  readonly modeChanges: Counter<'source'>;
  private readonly children = new Map<string, { count: Counter.Internal; time: Histogram.Internal<'route' | 'target' | 'tenant'> }>();

  constructor(defaults = true) {
    const registers = [this.registry];
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'strangler_proxy_' });
    this.requests = new Counter({ name: 'strangler_proxy_requests_total', help: 'Requests answered, by route, target, tenant and status class', labelNames: ['route', 'target', 'tenant', 'code'], registers });
    this.duration = new Histogram({
      name: 'strangler_proxy_request_duration_seconds',
      help: 'Time from request to the end of the response, by route, target and tenant',
      labelNames: ['route', 'target', 'tenant'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.fallbacks = new Counter({ name: 'strangler_proxy_fallbacks_total', help: 'Requests for an extracted service served by the monolith instead, by reason', labelNames: ['route', 'service', 'reason'], registers });
    this.breaker = new Gauge({ name: 'strangler_proxy_breaker_state', help: 'Circuit breaker per service: 0 closed, 1 half-open, 2 open', labelNames: ['service'], registers });
    this.shadow = new Counter({
      name: 'strangler_proxy_shadow_total',
      help: 'Shadow copies by outcome: sent, completed, timeout, error, dropped_queue_full, skipped_write, skipped_body_too_large, skipped_breaker_open',
      labelNames: ['route', 'outcome'],
      registers,
    });
    this.reloads = new Counter({ name: 'strangler_proxy_config_reloads_total', help: 'Config file reloads: applied or rejected', labelNames: ['result'], registers });
    this.refused = new Counter({ name: 'strangler_proxy_refused_total', help: 'Requests refused by the proxy itself, by error code', labelNames: ['code'], registers });
    this.modeChanges = new Counter({ name: 'strangler_proxy_mode_changes_seen_total', help: 'Route mode changes applied from the control store, by source', labelNames: ['source'], registers });
  }

  observe(route: string, target: string, tenant: string, status: number, seconds: number): void {
    const code = status >= 500 ? '5xx' : status >= 400 ? '4xx' : status >= 300 ? '3xx' : '2xx';
    const key = `${route}\u0000${target}\u0000${tenant}\u0000${code}`;
    let c = this.children.get(key);
    if (!c) {
      c = { count: this.requests.labels(route, target, tenant, code), time: this.duration.labels(route, target, tenant) };
      this.children.set(key, c);
    }
    c.count.inc();
    c.time.observe(seconds);
  }

  breakerState(service: string, state: BreakerState): void {
    this.breaker.labels(service).set(BREAKER_VALUE[state]);
  }
}
