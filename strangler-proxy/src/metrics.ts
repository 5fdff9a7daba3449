import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BreakerState } from './forward/breaker';
import { HotCounter, HotMetrics } from './hot-metrics';
import type { RequestTotals } from './history/recorder';

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The proxy's Prometheus metrics, on its own registry (several proxies can
 * live in one process, as in tests). The per-request series live in
 * HotMetrics, and the shadow copies' counts in a HotCounter, off prom-client,
 * so the hot path does a few map lookups and hashes no label set.
 */
/** What the parity gauges read per route and tenant. */
interface ParityFigures {
  readonly route: string;
  readonly tenant: string;
  readonly samples: number;
  readonly mismatches: number;
  readonly noiseFiltered: number;
  readonly noiseDiscarded: number;
  readonly shadowErrors: number;
  readonly mismatchRate: number;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly hot = new HotMetrics();
  readonly fallbacks: Counter<'route' | 'service' | 'reason'>;
  private readonly breaker: Gauge<'service'>;
  private readonly behindGauge: Gauge<'service' | 'tenant'>;
  private readonly loadingGauge: Gauge<'service' | 'tenant'>;
  private readonly freshnessKnown: Gauge<'service'>;
  /** The tenants each service's last freshness report named. */
  private readonly behindTenants = new Map<string, ReadonlySet<string>>();
  /** Counted on the request thread for every shadowed request: off prom-client, like the request series. */
  readonly shadow: HotCounter;
  readonly reloads: Counter<'result'>;
  readonly refused: Counter<'code'>;
  readonly modeChanges: Counter<'source'>;
  readonly gateMoves: Counter<'route' | 'tenant' | 'kind'>;
  readonly upgrades: Counter<'route' | 'target' | 'outcome'>;
  readonly parityShared: Counter<'direction'>;
  private readonly heldWrites: Counter<'domain' | 'outcome'>;
  private readonly heldSeconds: Histogram<'domain'>;
  private readonly backSyncWaits: Counter<'domain' | 'outcome'>;
  private readonly backSyncWaitSeconds: Histogram<'domain'>;
  /** Hand-overs ended, by domain, direction and status. */
  readonly handovers: Counter<'domain' | 'to' | 'status'>;
  /** Owner of each domain per tenant: 1 when the service owns it. */
  readonly ownedByService: Gauge<'domain' | 'tenant'>;
  private paritySource: (() => ReadonlyArray<ParityFigures>) | null = null;

  /** A held write left its queue. */
  held(domain: string, outcome: 'released' | 'timeout' | 'full' | 'stopping', seconds: number): void {
    this.heldWrites.inc({ domain, outcome });
    if (outcome === 'released') this.heldSeconds.observe({ domain }, seconds);
  }

  /** A request for the monolith waited for back-sync to carry its client's write made through the owning service. */
  backSyncWait(domain: string, outcome: 'now' | 'waited' | 'timeout' | 'failed', seconds: number): void {
    this.backSyncWaits.inc({ domain, outcome });
    if (outcome !== 'now') this.backSyncWaitSeconds.observe({ domain }, seconds);
  }

  constructor(defaults = true) {
    const registers = [this.registry];
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'strangler_proxy_' });
    this.fallbacks = new Counter({ name: 'strangler_proxy_fallbacks_total', help: 'Requests for an extracted service served by the monolith instead, by reason: connect, timeout, status_5xx, socket, breaker_open, behind (the service is behind its change streams for the tenant), unapplied_write (read-your-writes: the client\'s own write is not yet applied)', labelNames: ['route', 'service', 'reason'], registers });
    this.breaker = new Gauge({ name: 'strangler_proxy_breaker_state', help: 'Circuit breaker per service: 0 closed, 1 half-open, 2 open', labelNames: ['service'], registers });
    this.behindGauge = new Gauge({ name: 'strangler_proxy_service_behind_seconds', help: "Per extracted service and tenant, the age of the oldest change it had not applied, as last polled (services with freshness)", labelNames: ['service', 'tenant'], registers });
    this.loadingGauge = new Gauge({ name: 'strangler_proxy_service_loading', help: 'Per extracted service and tenant, 1 while the service reports that it is still applying the tenant\'s initial snapshot (its reads are held back), else 0 (services with freshness)', labelNames: ['service', 'tenant'], registers });
    this.freshnessKnown = new Gauge({ name: 'strangler_proxy_service_freshness_known', help: 'Per extracted service with freshness: 1 while its freshness report answers, 0 while it does not (its reads are then not held back)', labelNames: ['service'], registers });
    this.shadow = new HotCounter(
      'strangler_proxy_shadow_total',
      'Shadow copies by outcome: sent, completed, timeout, error, starved (the shadow thread itself could not run in time: the target is not judged), dropped_queue_full, dropped_buffer_full (the shared ring of bodies is full), skipped_write, skipped_sample (left out of the shadow.sampleRate sample), skipped_behind (the service is behind its change streams for the tenant: services with freshness), skipped_unapplied_write (read-your-writes: the service has not yet applied a write of this client), skipped_body_too_large, skipped_breaker_open, skipped_shadow_failing (the copies themselves keep failing), skipped_thread_down and lost (the shadow thread stopped)',
      ['route', 'outcome'],
    );
    this.heldWrites = new Counter({ name: 'strangler_proxy_held_writes_total', help: 'Writes to a domain held while it was handed over, by outcome: released (sent to the owner after the flip or the end of the hand-over), timeout and full (503 with Retry-After, nothing sent), stopping', labelNames: ['domain', 'outcome'], registers });
    this.backSyncWaits = new Counter({ name: 'strangler_proxy_backsync_waits_total', help: "Requests for the monolith from a client that had just written through a service owning a domain of its tenant (read-your-writes through back-sync), by outcome: now (already carried), waited, timeout and failed (sent without it: the read may miss the client's own write)", labelNames: ['domain', 'outcome'], registers });
    this.backSyncWaitSeconds = new Histogram({ name: 'strangler_proxy_backsync_wait_seconds', help: 'How long such requests waited for back-sync', labelNames: ['domain'], buckets: [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5], registers });
    this.heldSeconds = new Histogram({ name: 'strangler_proxy_held_write_seconds', help: 'How long held writes waited before they were sent on (outcome released)', labelNames: ['domain'], buckets: [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5], registers });
    this.handovers = new Counter({ name: 'strangler_proxy_handovers_total', help: 'Hand-overs of write ownership this process ran, by domain, direction (to) and status (done, aborted, refused)', labelNames: ['domain', 'to', 'status'], registers });
    this.ownedByService = new Gauge({ name: 'strangler_proxy_domain_owned_by_service', help: 'Per domain and tenant: 1 while the extracted service owns the domain\'s writes, 0 while the monolith does', labelNames: ['domain', 'tenant'], registers });
    this.reloads = new Counter({ name: 'strangler_proxy_config_reloads_total', help: 'Config file reloads: applied or rejected', labelNames: ['result'], registers });
    this.refused = new Counter({ name: 'strangler_proxy_refused_total', help: 'Requests refused by the proxy itself, by error code', labelNames: ['code'], registers });
    this.modeChanges = new Counter({ name: 'strangler_proxy_mode_changes_seen_total', help: 'Route mode changes applied from the control store, by source', labelNames: ['source'], registers });
    this.upgrades = new Counter({ name: 'strangler_proxy_upgrades_total', help: 'Protocol upgrades (WebSocket): tunnelled to the target, or unreachable', labelNames: ['route', 'target', 'outcome'], registers });
    this.parityShared = new Counter({ name: 'strangler_proxy_parity_shared_total', help: "Parity counts (one route, tenant and second each) sent to the other replicas on the control store, and received from them", labelNames: ['direction'], registers });
    this.gateMoves = new Counter({ name: 'strangler_proxy_gate_moves_total', help: 'Automatic route moves by parity gates: promote or rollback', labelNames: ['route', 'tenant', 'kind'], registers });
    const parity = (name: string, help: string, pick: (s: ParityFigures) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['route', 'tenant'],
        registers,
        collect: () => {
          const g = this.registry.getSingleMetric(name) as Gauge<'route' | 'tenant'>;
          g.reset();
          for (const s of this.paritySource?.() ?? []) g.labels(s.route, s.tenant).set(pick(s));
        },
      });
    parity('strangler_proxy_parity_samples', 'Shadow comparisons over the last 5 minutes', (s) => s.samples);
    parity('strangler_proxy_parity_mismatches', 'Shadow comparisons that differed, last 5 minutes', (s) => s.mismatches);
    parity('strangler_proxy_parity_matched', 'Shadow comparisons that matched with nothing left out, last 5 minutes', (s) => s.samples - s.mismatches - s.noiseFiltered);
    parity('strangler_proxy_parity_noise_filtered', 'Shadow comparisons whose every difference lay on learned noise (neither a match nor a mismatch), last 5 minutes', (s) => s.noiseFiltered);
    parity('strangler_proxy_parity_noise_discarded', 'Pairs of monolith answers not learned from as noise because the data changed between the two asks, last 5 minutes', (s) => s.noiseDiscarded);
    parity('strangler_proxy_parity_shadow_errors', 'Shadow copies failed, timed out or 5xx, last 5 minutes', (s) => s.shadowErrors);
    parity('strangler_proxy_parity_mismatch_ratio', 'Mismatches over comparisons, last 5 minutes', (s) => s.mismatchRate);
  }

  /**
   * The limits the alert rules compare with, from the config in force: each
   * route's rollback rates (its gate's, else the gate defaults) and each
   * service's freshness limit, so that one rule serves every route and
   * service (observability/rules).
   */
  limitsFrom(source: () => { readonly routes: ReadonlyArray<{ readonly id: string; readonly service: string | null; readonly gate: { readonly rollback: { readonly maxMismatchRate: number; readonly maxErrorRate: number } } | null }>; readonly services: ReadonlyArray<{ readonly name: string; readonly maxBehindMs: number | null }> }): void {
    const registers = [this.registry];
    new Gauge({
      name: 'strangler_proxy_route_limit_ratio',
      help: "Per route with a service: the rate over which it rolls back (its gate's rollback.maxMismatchRate and maxErrorRate, else the defaults 0.05), by kind: mismatch, error; the alert rules compare the route's rates with it",
      labelNames: ['route', 'kind', 'gated'],
      registers,
      collect() {
        this.reset();
        for (const r of source().routes) {
          if (r.service === null) continue;
          const gated = r.gate === null ? 'no' : 'yes';
          this.labels(r.id, 'mismatch', gated).set(r.gate?.rollback.maxMismatchRate ?? 0.05);
          this.labels(r.id, 'error', gated).set(r.gate?.rollback.maxErrorRate ?? 0.05);
        }
      },
    });
    new Gauge({
      name: 'strangler_proxy_service_max_behind_seconds',
      help: "Per service with freshness: its maxBehindMs in seconds, past which its tenant's reads go to the monolith; the alert rules compare strangler_proxy_service_behind_seconds with it",
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const s of source().services) if (s.maxBehindMs !== null) this.labels(s.name).set(s.maxBehindMs / 1000);
      },
    });
  }

  /** Where the parity gauges read their figures (the runtime's shadow parity, 5-minute window). */
  parityFrom(source: () => ReadonlyArray<ParityFigures>): void {
    this.paritySource = source;
  }

  observe(route: string, target: string, tenant: string, status: number, seconds: number, write: boolean): void {
    this.hot.observe(route, target, tenant, status, seconds, write);
  }

  /** Every request series' totals since start (for the history). */
  requestTotals(): Iterable<RequestTotals> {
    return this.hot.totals();
  }

  /** The whole exposition: the hot-path series, then everything prom-client holds. */
  async render(): Promise<string> {
    return `${this.hot.render()}${this.shadow.render()}${await this.registry.metrics()}`;
  }

  /** A service's freshness report: each tenant's figure, replacing the last (a tenant no longer reported loses its series). */
  freshness(service: string, tenants: ReadonlyMap<string, { readonly behindMs: number; readonly loading: boolean }>): void {
    this.freshnessKnown.labels(service).set(1);
    for (const gone of this.behindTenants.get(service) ?? []) {
      if (tenants.has(gone)) continue;
      this.behindGauge.remove(service, gone);
      this.loadingGauge.remove(service, gone);
    }
    this.behindTenants.set(service, new Set(tenants.keys()));
    for (const [tenant, t] of tenants) {
      this.behindGauge.labels(service, tenant).set(t.behindMs / 1000);
      this.loadingGauge.labels(service, tenant).set(t.loading ? 1 : 0);
    }
  }

  freshnessLost(service: string): void {
    this.freshnessKnown.labels(service).set(0);
  }

  breakerState(service: string, state: BreakerState): void {
    this.breaker.labels(service).set(BREAKER_VALUE[state]);
  }
}
