import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { BreakerState } from './forward/breaker';
import { HotMetrics } from './hot-metrics';

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The proxy's Prometheus metrics, on its own registry (several proxies can
 * live in one process, as in tests). The per-request series live in
 * HotMetrics, off prom-client, so the hot path does one map lookup.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly hot = new HotMetrics();
  readonly fallbacks: Counter<'route' | 'service' | 'reason'>;
  private readonly breaker: Gauge<'service'>;
  readonly shadow: Counter<'route' | 'outcome'>;
  readonly reloads: Counter<'result'>;
  readonly refused: Counter<'code'>;
  readonly modeChanges: Counter<'source'>;

  constructor(defaults = true) {
    const registers = [this.registry];
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'strangler_proxy_' });
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
    this.hot.observe(route, target, tenant, status, seconds);
  }

  /** The whole exposition: the hot-path series, then everything prom-client holds. */
  async render(): Promise<string> {
    return `${this.hot.render()}${await this.registry.metrics()}`;
  }

  breakerState(service: string, state: BreakerState): void {
    this.breaker.labels(service).set(BREAKER_VALUE[state]);
  }
}
