import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { ConfigError, type ConfigIssue } from '@strangler/common';
import { type CompiledConfig, compileConfigText, readConfigText } from '../config/compile';
import type { ModeSetting } from '../config/schema';
import { ControlStore, type RouteChange } from '../control/store';
import { ProxyError } from '../errors';
import { CircuitBreaker, DEFAULT_BREAKER, type BreakerOptions, type BreakerState } from '../forward/breaker';
import { FreshnessWatch, type FreshnessView } from '../forward/freshness';
import { BackSyncBarrier, type BarrierOutcome } from '../forward/backsync-barrier';
import { backSyncRound, type DomainSpec } from '@strangler/ownership';
import { Upstreams } from '../forward/upstreams';
import { ProxyMetrics } from '../metrics';
import { ALL_TENANTS, NO_OVERRIDES, effectiveMode, type ModeOverrides } from '../routes/modes';
import { ShadowMirror } from '../shadow/mirror';
import { WriteLedger } from '../parity/change-witness';
import type { ThreadConfig } from '../shadow/protocol';
import { GateEvaluator, type GateMove } from '../parity/gates';
import { CorpusCapture } from '../parity/capture';
import { redactor, type Redactor } from '../parity/redact';
import { ShadowParity, type ParityStats } from '../parity/shadow-parity';
import { mergeExpositions } from '../cluster/exposition';
import type { ClusterLink } from '../cluster/link';
import { type Collect, REPLICA_ID_ENV, SHARE_EVERY_MS } from '../cluster/protocol';
import { ParityExchange } from '../control/parity-exchange';
import type { RouteNoise } from '../parity/noise';
import { mergeNoise } from '../cluster/noise';
import { startAdmin, type AdminServer } from './admin';
import { DataPlane, ownedMarkCookie, type OwnershipView, type Routing, TENANT_HEADER } from './data-plane';
import { OwnershipAgent, ownershipView } from './ownership';
import type { OwnershipSnapshot } from '../control/ownership-store';
import { HistoryRecorder } from '../history/recorder';
import { buildCharts, type Charts } from '../history/charts';
import { buildProgress, type Progress } from '../history/progress';
import { timeline, type WindowName } from '../history/windows';

export interface ProxyOptions {
  /** The YAML config file; watched and reloaded on change. */
  readonly configFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
  /** Override the file's listen and admin ports (0 for any free port: tests). */
  readonly port?: number;
  readonly adminPort?: number;
  /** How often the file is checked besides fs.watch. @default 500 */
  readonly filePollMs?: number;
  /** Set in a cluster worker: its line to the other workers (parity counts, admin answers for all). */
  readonly link?: ClusterLink;
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly at: string;
  readonly changed: boolean;
  readonly issues: readonly ConfigIssue[];
  readonly restartNeeded: readonly string[];
}

export interface ServiceView {
  readonly service: string;
  readonly url: string;
  readonly breaker: BreakerState;
  readonly freshness: FreshnessView | null;
  /** In a cluster: each worker's breaker. */
  readonly breakerByWorker?: Readonly<Record<string, BreakerState>>;
}

const BREAKER_RANK: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * One proxy replica: the data plane, the admin API, the config file watcher
 * and the control store subscription, with the routing state they share
 * swapped as one immutable object.
 */
export class ProxyRuntime {
  readonly metrics = new ProxyMetrics();
  private readonly upstreams = new Upstreams();
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly mirror: ShadowMirror;
  /** The writes this process forwards, per tenant, in memory the shadow thread reads (noise learning's change check). */
  private readonly writes = new WriteLedger();
  /** Shadow parity in flight: the sliding-window figures the gates judge by (comparisons run in the shadow thread). */
  readonly parity = new ShadowParity();
  private readonly gates: GateEvaluator;
  /** Services that declare freshness, polled: reads go to the monolith while one is behind for the tenant. */
  private readonly freshness = new FreshnessWatch({
    reported: (service, tenants) => this.metrics.freshness(service, tenants),
    lost: (service, reason) => {
      this.metrics.freshnessLost(service);
      this.logger.warn({ extracted: service, reason }, 'the service does not report its freshness: its reads are not held back meanwhile');
    },
    found: (service) => this.logger.info({ extracted: service }, 'the service reports its freshness again'),
  });
  /** This process's part of the figures over time (charts, progress). */
  private readonly recorder: HistoryRecorder;
  private gateTimer: NodeJS.Timeout | null = null;
  private shareTimer: NodeJS.Timeout | null = null;
  private readonly exchange: ParityExchange;
  private shareFailing = false;
  private readonly startedAt = new Date().toISOString();
  private gateRunning = false;
  private redact: { config: CompiledConfig; r: Redactor } | null = null;
  private corpus: CorpusCapture | null = null;
  private corpusOf: CompiledConfig | null = null;
  private dataPlane!: DataPlane;
  private admin!: AdminServer;
  private state: Routing;
  private fileHash: string;
  private watcher: fs.FSWatcher | null = null;
  private filePoll: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private storeVersion = 0;
  private ownershipRev = -1;
  private ownershipSnap: OwnershipSnapshot = { rev: 0, entries: [] };
  /** Rounds of probes through back-sync, shared by the requests that wait for them (read-your-writes through back-sync). */
  private readonly backSync = new BackSyncBarrier((key, err) => this.backSyncFailed(key, err));
  private readonly backSyncWarned = new Map<string, number>();
  /** This process's part in write ownership: beats, acknowledgements of holds, hand-overs it runs. */
  readonly ownership: OwnershipAgent;
  private stopping: Promise<void> | null = null;
  private reloadChain: Promise<unknown> = Promise.resolve();
  lastReload: ReloadResult;
  /** Config file changes applied and rejected since start (also in metrics). */
  readonly reloadCounts = { applied: 0, rejected: 0 };

  private constructor(
    private readonly options: ProxyOptions,
    private config: CompiledConfig,
    private readonly store: ControlStore,
    readonly logger: Logger,
    text: string,
  ) {
    this.fileHash = hash(text);
    this.state = routingOf(config, NO_OVERRIDES, new Map());
    this.mirror = new ShadowMirror(
      threadConfig(config),
      config.config.shadow.threadPriority,
      this.metrics,
      {
        report: (r, requestedAt) => {
          if (r.counts) {
            this.parity.count(r.route, r.tenant, r.counts, requestedAt);
            this.recorder.parity(r.route, r.tenant, r.counts);
          }
          if (r.mismatch) this.store.recordMismatch(r.mismatch, this.config.config.shadow.mismatchesKept).catch((err: unknown) => this.logger.warn({ err }, 'a parity mismatch could not be stored'));
        },
        warn: (message, detail) => this.logger.warn(detail, message),
      },
      (service) => this.breakerOptions(service),
      config.config.shadow.bufferMiB * 2 ** 20,
      this.writes,
    );
    this.metrics.parityFrom(() => this.parity.all(5 * 60_000));
    this.metrics.limitsFrom(() => ({
      routes: this.config.table.routes,
      services: [...this.config.services.values()].map((s) => ({ name: s.name, maxBehindMs: s.freshness?.maxBehindMs ?? null })),
    }));
    this.recorder = new HistoryRecorder(
      store.figures,
      {
        requests: () => this.metrics.requestTotals(),
        freshness: () => this.freshnessFigures(),
      },
      (err, failures) => {
        // Said once, then every 60th failure: the figures are kept and added once the store answers.
        if (failures === 1 || failures % 60 === 0) this.logger.warn({ err, failures }, 'the figures over time could not be stored; kept for the next try');
      },
    );
    // A cluster's workers are one replica (they share through their primary); a process on its own is one.
    const replica = (options.env ?? process.env)[REPLICA_ID_ENV] || crypto.randomUUID();
    this.ownership = new OwnershipAgent(
      `${replica}:${options.link?.worker ?? 0}:${process.pid}`,
      store,
      () => this.dataPlane.holds,
      () => this.config,
      (route, tenant, windowMs) => this.parity.stats(route, tenant, windowMs),
      this.metrics,
      logger,
    );
    this.exchange = new ParityExchange(config.controlStoreUrl, replica, (deltas) => {
      this.parity.apply(deltas);
      this.metrics.parityShared.inc({ direction: 'received' }, deltas.length);
    });
    this.gates = new GateEvaluator({
      routes: () => this.config.table.routes,
      tenants: () => [...this.config.tenants.keys()],
      overrides: () => this.state.overrides,
      stats: (route, tenant, windowMs, since) => this.parity.stats(route, tenant, windowMs, since),
      controls: () => this.store.gateControls(),
      move: (m, expected) => this.gateMove(m, expected),
    });
    this.lastReload = { ok: true, at: new Date().toISOString(), changed: true, issues: [], restartNeeded: [] };
  }

  /** A failed round of read-your-writes through back-sync: logged at most once a minute per domain and tenant. */
  private backSyncFailed(key: string, err: unknown): void {
    const last = this.backSyncWarned.get(key) ?? 0;
    if (Date.now() - last < 60_000) return;
    this.backSyncWarned.set(key, Date.now());
    this.logger.warn({ err, domainTenant: key }, "read-your-writes through back-sync: a probe could not be followed into the monolith; requests are sent without waiting for their client's own writes");
  }

  /** Loads and checks the config, connects the control store, then listens. */
  static async start(options: ProxyOptions): Promise<ProxyRuntime> {
    const env = options.env ?? process.env;
    const text = readConfigText(options.configFile);
    const config = compileConfigText(text, options.configFile, env);
    const logger = options.logger ?? pino({ level: config.config.log.level, base: { service: 'strangler-proxy', ...(options.link ? { worker: options.link.worker } : {}) }, redact: ['req.headers.authorization', 'req.headers.cookie'] });
    const store = await ControlStore.open(config.controlStoreUrl, { prepare: config.config.controlStore.prepare });
    const rt = new ProxyRuntime(options, config, store, logger, text);
    try {
      await rt.init();
    } catch (err) {
      await rt.stop(0).catch(() => {});
      throw err;
    }
    return rt;
  }

  /** Read-your-writes through back-sync: waits for a round of probes that proves the client's write carried into the monolith. */
  private backSynced(domain: DomainSpec, tenant: string, markMs: number, timeoutMs: number): Promise<BarrierOutcome> {
    const serviceDb = this.config.services.get(domain.service)?.database ?? null;
    const monolithDb = this.config.tenants.get(tenant)?.database ?? null;
    // The config requires both for a domain's hand-over; a reload that removed one ends the wait.
    if (serviceDb === null || monolithDb === null) return Promise.resolve('failed');
    return this.backSync.wait(`${domain.name}/${tenant}`, markMs, timeoutMs, () => backSyncRound(serviceDb, monolithDb, tenant, domain.name, Math.max(timeoutMs, domain.timeouts.guardMs)));
  }

  private async init(): Promise<void> {
    await this.store.syncDeclared(this.config.table.routes, `file:${path.basename(this.options.configFile)}`);
    await this.refreshModes();
    const cfg = this.config.config;
    this.dataPlane = new DataPlane(
      {
        routing: () => this.state,
        upstreams: this.upstreams,
        breaker: (s) => this.breaker(s),
        mirror: this.mirror,
        metrics: this.metrics,
        logger: this.logger,
        served: (route, tenant, servedBy, status) => {
          this.parity.served(route, tenant, servedBy, status);
          this.recorder.served(route, tenant, servedBy, status);
        },
        capture: () => this.capture(),
        behind: (service, tenant) => this.freshness.behind(service, tenant),
        applied: (service, tenant, atMs) => this.freshness.applied(service, tenant, atMs),
        writes: this.writes,
        backSynced: (domain, tenant, markMs, timeoutMs) => this.backSynced(domain, tenant, markMs, timeoutMs),
      },
      { maxHeaderBytes: cfg.forwarding.maxHeaderBytes, headersTimeoutMs: cfg.forwarding.headersTimeoutMs },
    );
    // Every worker and every replica on the control store holds everyone's parity counts: gates judge, and
    // GET /parity answers, for all of them. Attached before anything listens: the admin API asks the other
    // workers from its first request on.
    this.parity.share();
    this.options.link?.attach({ collect: (ask) => this.collect(ask), shared: (deltas) => this.parity.apply(deltas) });
    this.exchange.start();
    this.shareTimer = setInterval(() => void this.shareCounts(), SHARE_EVERY_MS);
    this.shareTimer.unref();
    this.freshness.sync(this.config.services.values());
    // Beating before listening: a hand-over that starts from now on waits for this process's acknowledgement.
    await this.ownership.start();
    this.ownership.follow(this.ownershipSnap);
    await listen(this.dataPlane.server, this.options.port ?? cfg.listen.port, cfg.listen.host);
    this.admin = await startAdmin(this, this.options.adminPort ?? cfg.admin.port, cfg.admin.host);
    this.store.watch(cfg.controlStore.pollMs, () => void this.refreshModes().catch((err) => this.logger.warn({ err }, 'control store refresh failed')));
    this.watchFile();
    this.gateTimer = setInterval(() => void this.evaluateGates(), cfg.gates.intervalMs);
    this.gateTimer.unref();
    if (cfg.history.enabled) this.recorder.start(cfg.history.intervalMs);
    this.logger.info({ url: this.url, admin: this.adminUrl, routes: this.config.table.routes.length, tenants: [...this.config.tenants.keys()] }, 'proxy listening');
  }

  get url(): string {
    return `http://${hostPort(this.dataPlane.server.address() as AddressInfo)}`;
  }

  get adminUrl(): string {
    return this.admin.url;
  }

  get routing(): Routing {
    return this.state;
  }

  get current(): CompiledConfig {
    return this.config;
  }

  get ready(): boolean {
    return this.stopping === null && this.state.overrides !== NO_OVERRIDES;
  }

  get shadowQueueDepth(): number {
    return this.mirror.depth;
  }

  /** The last shadow exchanges (GET /shadow/recent), as JSON, oldest first: every worker's, in a cluster. */
  async recentExchanges(): Promise<unknown[]> {
    if (!this.options.link) return this.mirror.recent();
    const g = await this.options.link.gather<Array<{ at: string }> | null>({ what: 'recent' });
    const all = g.results.flatMap((r) => r.data ?? []).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return all.slice(-this.config.config.shadow.keep);
  }

  /** Noise the parity engine has learned, for these routes: every worker's shadow thread learns its own, summed here. */
  async learnedNoise(routes: readonly string[]): Promise<RouteNoise[]> {
    if (!this.options.link) return this.mirror.learnedNoise(routes);
    const g = await this.options.link.gather<RouteNoise[] | null>({ what: 'noise', routes });
    return mergeNoise(routes, g.results.map((r) => r.data ?? []));
  }

  /** The Prometheus exposition: in a cluster, every worker's series with a worker label (parity figures, which each worker holds whole, once). */
  async metricsText(): Promise<string> {
    if (!this.options.link) return this.metrics.render();
    const g = await this.options.link.gather<string | null>({ what: 'metrics' });
    return mergeExpositions(
      g.results.filter((r) => r.data !== null).map((r) => ({ worker: r.worker, text: r.data! })),
      (family) => family.startsWith('strangler_proxy_parity_'),
    );
  }

  /** The processes serving: this one alone, or every cluster worker (and those that did not answer). */
  async workers(): Promise<{ data: unknown[]; missing: readonly string[] }> {
    if (!this.options.link) return { data: [this.info()], missing: [] };
    const g = await this.options.link.gather({ what: 'info' });
    return { data: g.results.map((r) => r.data), missing: g.missing };
  }

  private info() {
    return { worker: this.options.link?.worker ?? null, pid: process.pid, startedAt: this.startedAt, ready: this.ready, inFlight: this.dataPlane?.inFlight ?? 0, shadowQueueDepth: this.mirror.depth, services: this.serviceViews() };
  }

  /** Hands what this process counted since the last time to the other workers (cluster) and the other replicas (control store). */
  private async shareCounts(): Promise<void> {
    const deltas = this.parity.take();
    if (deltas.length === 0) return;
    this.options.link?.share(deltas);
    try {
      await this.exchange.publish(deltas);
      this.metrics.parityShared.inc({ direction: 'sent' }, deltas.length);
      if (this.shareFailing) this.logger.info('parity counts reach the other replicas again');
      this.shareFailing = false;
    } catch (err) {
      // Said once, not every 200 ms while the store is away; what was counted meanwhile stays this replica's own.
      if (!this.shareFailing) this.logger.warn({ err }, 'parity counts cannot be shared with the other replicas (the control store is unreachable); this replica keeps counting its own');
      this.shareFailing = true;
    }
  }

  /** This process's view of each extracted service: its breaker and, where declared, its freshness. */
  private serviceViews(): ServiceView[] {
    return [...this.config.services.values()].map((s) => ({ service: s.name, url: s.url, breaker: this.breakers.get(s.name)?.state ?? 'closed', freshness: this.freshness.view(s) }));
  }

  /**
   * GET /services: each extracted service's breaker and freshness. In a
   * cluster every worker has its own breaker: the worst state is given, with
   * each worker's; the freshness is the most recent poll's.
   */
  async services(): Promise<ServiceView[]> {
    if (!this.options.link) return this.serviceViews();
    const g = await this.options.link.gather<{ worker: number; services: ServiceView[] } | null>({ what: 'info' });
    const answers = g.results.flatMap((r) => (r.data ? [r.data] : []));
    return this.serviceViews().map((mine) => {
      const views = answers.flatMap((a) => a.services.filter((v) => v.service === mine.service).map((v) => ({ worker: a.worker, v })));
      const worst = views.reduce((w, { v }) => (BREAKER_RANK[v.breaker] > BREAKER_RANK[w] ? v.breaker : w), mine.breaker);
      const latest = views.map(({ v }) => v.freshness).reduce((a, b) => ((b?.polledAt ?? '') > (a?.polledAt ?? '') ? b : a), mine.freshness);
      return { ...mine, breaker: worst, freshness: latest, breakerByWorker: Object.fromEntries(views.map(({ worker, v }) => [String(worker), v.breaker])) };
    });
  }

  /** This worker's own answer to a sibling's admin question. */
  private async collect(ask: Collect): Promise<unknown> {
    switch (ask.what) {
      case 'metrics':
        return this.metrics.render();
      case 'recent':
        return this.mirror.recent();
      case 'noise':
        return this.mirror.learnedNoise(ask.routes);
      case 'info':
        return this.info();
    }
  }

  /** The shadow thread's id and nice value, once it has started. */
  get shadowThread() {
    return this.mirror.threadInfo;
  }

  private breakerOptions(service: string): BreakerOptions {
    return this.config.services.get(service)?.breaker ?? DEFAULT_BREAKER;
  }

  breaker(service: string): CircuitBreaker {
    let b = this.breakers.get(service);
    if (!b) {
      b = new CircuitBreaker(this.breakerOptions(service), (state) => {
        this.metrics.breakerState(service, state);
        this.logger.warn({ extracted: service, state }, 'circuit breaker changed state'); // "service" is the logger's own field (strangler-proxy)
      });
      this.metrics.breakerState(service, 'closed');
      this.breakers.set(service, b);
    }
    return b;
  }

  /**
   * Re-reads the config file now. Invalid configs are refused whole; the last
   * good one keeps serving. Reloads run one at a time, in order.
   */
  reload(): Promise<ReloadResult> {
    const next = this.reloadChain.then(() => this.reloadOnce());
    this.reloadChain = next.catch(() => undefined);
    return next;
  }

  private async reloadOnce(): Promise<ReloadResult> {
    const at = new Date().toISOString();
    let text: string;
    try {
      text = readConfigText(this.options.configFile);
    } catch (err) {
      if (err instanceof ConfigError) return this.rejected(at, err.issues);
      throw err;
    }
    const h = hash(text);
    // Unchanged: nothing to do, and the last outcome (perhaps a rejection) still stands.
    if (h === this.fileHash) return this.lastReload;
    let next: CompiledConfig;
    try {
      // The text just read and hashed, so what is compiled is exactly what was compared.
      next = compileConfigText(text, this.options.configFile, this.options.env ?? process.env);
    } catch (err) {
      if (err instanceof ConfigError) {
        this.fileHash = h; // don't re-report the same bad file every poll
        return this.rejected(at, err.issues);
      }
      throw err;
    }
    this.fileHash = h;
    const restartNeeded = restartOnly(this.config, next);
    this.config = next;
    this.state = routingOf(next, this.state.overrides, ownershipView(next, this.ownershipSnap));
    this.mirror.reconfigure(threadConfig(next), next.config.shadow.threadPriority);
    this.freshness.sync(next.services.values());
    const origins = new Set([...[...next.tenants.values()].map((t) => t.monolith), ...[...next.services.values()].map((s) => s.url)]);
    this.upstreams.retain((o) => origins.has(o));
    this.metrics.reloads.labels('applied').inc();
    this.reloadCounts.applied++;
    this.logger.info({ file: this.options.configFile, routes: next.table.routes.length, restartNeeded }, 'config reloaded');
    if (restartNeeded.length > 0) this.logger.warn({ keys: restartNeeded }, 'these settings changed but only take effect after a restart');
    this.lastReload = { ok: true, at, changed: true, issues: [], restartNeeded };
    await this.syncDeclaredWithRetry();
    return this.lastReload;
  }

  async setMode(routeId: string, tenant: string | null, setting: ModeSetting, actor: string, reason: string): Promise<RouteChange> {
    const route = this.config.table.byId.get(routeId);
    if (!route) throw new ProxyError('STR_ERR_ROUTE_UNKNOWN', `no route with id "${routeId}" (known: ${[...this.config.table.byId.keys()].join(', ') || 'none'})`, { status: 404 });
    if (tenant !== null && !this.config.tenants.has(tenant)) {
      throw new ProxyError('STR_ERR_TENANT_UNKNOWN', `no tenant "${tenant}" (known: ${[...this.config.tenants.keys()].join(', ')})`, { status: 404 });
    }
    if (setting.mode !== 'monolith' && route.service === null) {
      throw new ProxyError('STR_ERR_ROUTE_NO_SERVICE', `route ${routeId} names no extracted service, so it can only be in mode monolith`, { status: 409 });
    }
    const change = await this.store.setMode({ routeId, scope: tenant ?? ALL_TENANTS, setting, actor, reason, source: 'api' });
    await this.refreshModes();
    this.logger.info({ change }, 'route mode changed');
    return change;
  }

  async rollback(routeId: string, tenant: string | null, actor: string, reason: string): Promise<RouteChange> {
    if (!this.config.table.byId.has(routeId)) throw new ProxyError('STR_ERR_ROUTE_UNKNOWN', `no route with id "${routeId}"`, { status: 404 });
    const change = await this.store.rollback(routeId, tenant ?? ALL_TENANTS, actor, reason);
    await this.refreshModes();
    this.logger.info({ change }, 'route rolled back');
    return change;
  }

  history(routeId: string, limit: number): Promise<RouteChange[]> {
    return this.store.history(routeId, limit);
  }

  /** Shadow parity figures per route and tenant over one window. */
  parityStats(windowMs: number): ParityStats[] {
    return this.parity.all(windowMs);
  }

  mismatches(routeId: string | null, tenant: string | null, limit: number) {
    return this.store.mismatches(routeId, tenant, limit);
  }

  gateControls() {
    return this.store.gateControls();
  }

  /** Pauses every gate (route null) or freezes one route, for every tenant or one. */
  async setGateControl(routeId: string | null, tenant: string | null, on: boolean, actor: string, reason: string): Promise<void> {
    if (routeId !== null && !this.config.table.byId.has(routeId)) throw new ProxyError('STR_ERR_ROUTE_UNKNOWN', `no route with id "${routeId}"`, { status: 404 });
    if (tenant !== null && !this.config.tenants.has(tenant)) throw new ProxyError('STR_ERR_TENANT_UNKNOWN', `no tenant "${tenant}" (known: ${[...this.config.tenants.keys()].join(', ')})`, { status: 404 });
    const scope = routeId === null ? '*' : tenant === null ? routeId : `${routeId}:${tenant}`;
    await this.store.setGateControl(scope, on, actor, reason);
    this.logger.info({ scope, on, actor, reason }, routeId === null ? (on ? 'gates paused' : 'gates resumed') : on ? 'route frozen' : 'route unfrozen');
  }

  /** One gate evaluation now (the timer calls it every gates.intervalMs); never two at once. */
  async evaluateGates(): Promise<GateMove[]> {
    if (this.gateRunning || this.stopping) return [];
    this.gateRunning = true;
    try {
      return await this.gates.tick();
    } catch (err) {
      this.logger.warn({ err }, 'gate evaluation failed');
      return [];
    } finally {
      this.gateRunning = false;
    }
  }

  private async gateMove(m: GateMove, expected: ModeSetting | null): Promise<boolean> {
    const change = await this.store.setModeIf({ routeId: m.routeId, scope: m.tenant, setting: m.to, actor: 'gate', reason: m.reason, source: 'gate' }, expected);
    if (!change) return false;
    this.metrics.gateMoves.labels(m.routeId, m.tenant, m.kind).inc();
    this.logger.warn({ change }, m.kind === 'rollback' ? 'gate rolled a route back' : 'gate promoted a route');
    await this.refreshModes();
    return true;
  }

  /** The corpus capture of the current config (null when capture.file is not set). */
  private capture(): CorpusCapture | null {
    if (this.corpusOf === this.config) return this.corpus;
    this.corpusOf = this.config;
    const c = this.config.config.capture;
    if (!c.file) {
      void this.corpus?.close();
      this.corpus = null;
      return null;
    }
    const settings = { file: path.resolve(path.dirname(this.options.configFile), c.file), sampleRate: c.sampleRate, maxPerRoute: c.maxPerRoute };
    if (!this.corpus) this.corpus = new CorpusCapture(settings, () => this.redactor(), (err) => this.logger.warn({ err }, 'corpus capture failed'));
    else this.corpus.reconfigure(settings);
    return this.corpus;
  }

  private redactor(): Redactor {
    if (this.redact?.config !== this.config) this.redact = { config: this.config, r: redactor(this.config.config.shadow.redact) };
    return this.redact.r;
  }

  /** Each service's freshness per tenant, as last polled (for the history). */
  private *freshnessFigures(): IterableIterator<{ service: string; tenant: string; behindMs: number; loading: boolean; pending: number | null }> {
    for (const service of this.config.services.values()) {
      const view = this.freshness.view(service);
      if (view === null || !view.reporting) continue;
      for (const [tenant, t] of Object.entries(view.tenants)) yield { service: service.name, tenant, behindMs: t.behindMs, loading: t.loading, pending: t.pending };
    }
  }

  /** The charts of a window, for one route and one tenant when given; with what changed as marks. */
  async charts(window: WindowName, filter: { route?: string; tenant?: string; service?: string } = {}): Promise<Charts> {
    const now = Date.now();
    const tl = timeline(window, now);
    const [routeRows, serviceRows, marks] = await Promise.all([
      this.store.figures.read(tl.resolutionS, tl.fromMs, { subject: filter.route, tenant: filter.tenant }).then((rows) => rows.filter((r) => r.kind !== 'freshness')),
      this.store.figures.read(tl.resolutionS, tl.fromMs, { kind: 'freshness', subject: filter.service, tenant: filter.tenant }),
      this.store.figures.marks(tl.fromMs, 500),
    ]);
    // A route's change marks its own charts; a hand-over marks the charts of its domain's routes.
    const ofRoute = (m: (typeof marks)[number]) => m.route !== null ? m.route === filter.route : m.domain !== null && (this.config.domains.get(m.domain)?.routes.includes(filter.route!) ?? false);
    const relevant = marks.filter((m) => (filter.tenant === undefined || m.tenant === filter.tenant || m.tenant === ALL_TENANTS) && (filter.route === undefined || ofRoute(m)));
    return buildCharts(tl, [...routeRows, ...serviceRows], relevant, now);
  }

  /** How far the migration is, over a window: shares of traffic and writes on new services, routes and domains moved, the trail. */
  async progress(window: WindowName): Promise<Progress> {
    const now = Date.now();
    const tl = timeline(window, now);
    const [rows, trail, ownership] = await Promise.all([
      this.store.figures.read(tl.resolutionS, tl.fromMs, { kind: 'requests' }),
      this.store.figures.marks(0, 200),
      this.ownership.status(1),
    ]);
    const tenants = [...this.config.tenants.keys()];
    const domainOf = new Map<string, string>();
    for (const d of this.config.domains.values()) for (const r of d.routes) domainOf.set(r, d.name);
    const routes = this.config.table.routes.map((r) => ({
      id: r.id,
      service: r.service,
      domain: domainOf.get(r.id) ?? null,
      modes: Object.fromEntries(tenants.map((t) => [t, effectiveMode(r, t, this.state.overrides)])),
    }));
    const domains = ownership.domains.map((d) => ({ domain: d.domain, service: d.service, owners: Object.fromEntries(d.tenants.map((t) => [t.tenant, t.owner])) }));
    return buildProgress(tl, rows, tenants, routes, domains, trail.filter((m) => m.kind !== 'file' || m.text.includes('->')), now);
  }

  /** SIGTERM: drain the data plane, then close everything. Safe to call twice. */
  stop(drainMs = this.config.config.drain.timeoutMs): Promise<void> {
    this.stopping ??= (async () => {
      this.watcher?.close();
      if (this.filePoll) clearInterval(this.filePoll);
      if (this.gateTimer) clearInterval(this.gateTimer);
      this.freshness.stop();
      if (this.dataPlane) await this.dataPlane.drain(drainMs);
      await this.ownership.stop();
      await this.mirror.close();
      // What the last requests and copies counted goes to the other workers and replicas before this one leaves.
      if (this.shareTimer) clearInterval(this.shareTimer);
      await this.shareCounts();
      await this.exchange.close();
      // What this process counted since its last flush goes into the history before the store closes.
      this.recorder.stop();
      if (this.config.config.history.enabled) await this.recorder.flush();
      await this.corpus?.close();
      if (this.admin) await this.admin.close();
      await this.upstreams.close();
      await this.store.close();
      this.logger.info('proxy stopped');
      this.logger.flush?.();
    })();
    return this.stopping;
  }

  /** Re-reads the store's modes; concurrent calls coalesce into at most one more read. */
  private refreshModes(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          const snap = await this.store.snapshot();
          const modes = snap.version !== this.storeVersion || this.state.overrides === NO_OVERRIDES;
          const owners = snap.ownership.rev !== this.ownershipRev;
          if (modes || owners) {
            this.storeVersion = snap.version;
            this.ownershipRev = snap.ownership.rev;
            this.ownershipSnap = snap.ownership;
            this.state = routingOf(this.config, snap.overrides, owners ? ownershipView(this.config, snap.ownership) : this.state.ownership);
            if (modes) this.metrics.modeChanges.labels('store').inc();
            if (owners) {
              // Held writes go on (or stay) by the new state; this process says when it holds the domain's writes with none in flight.
              this.dataPlane?.holds.retryAll();
              if (this.dataPlane) this.ownership.follow(snap.ownership);
            }
          }
        } while (this.refreshAgain);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private async syncDeclaredWithRetry(): Promise<void> {
    try {
      await this.store.syncDeclared(this.config.table.routes, `file:${path.basename(this.options.configFile)}`);
      await this.refreshModes();
    } catch (err) {
      this.logger.error({ err }, 'could not record the config file in the control store; retrying in 1 s');
      setTimeout(() => void (this.stopping ? undefined : this.syncDeclaredWithRetry()), 1000).unref();
    }
  }

  private rejected(at: string, issues: readonly ConfigIssue[]): ReloadResult {
    this.metrics.reloads.labels('rejected').inc();
    this.reloadCounts.rejected++;
    this.logger.error({ file: this.options.configFile, issues }, 'config change rejected; the last good config keeps serving');
    return (this.lastReload = { ok: false, at, changed: false, issues, restartNeeded: [] });
  }

  private watchFile(): void {
    const check = () => void this.reload().catch((err) => this.logger.error({ err }, 'reload failed'));
    let timer: NodeJS.Timeout | null = null;
    try {
      // Watch the folder: editors replace files rather than write them in place.
      this.watcher = fs.watch(path.dirname(this.options.configFile), (_e, name) => {
        if (name !== null && name !== path.basename(this.options.configFile)) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(check, 50);
      });
      this.watcher.on('error', () => {});
    } catch {
      // No inotify: the poll below still notices within filePollMs.
    }
    this.filePoll = setInterval(check, this.options.filePollMs ?? 500);
    this.filePoll.unref();
  }
}

/** What the shadow thread needs of a config. */
function threadConfig(c: CompiledConfig): ThreadConfig {
  const s = c.config.shadow;
  return {
    copies: { queue: s.queue, concurrency: s.concurrency, timeoutMs: s.timeoutMs, maxBodyBytes: s.maxBodyBytes },
    keep: s.keep,
    mismatchSamplesPerMinute: s.mismatchSamplesPerMinute,
    redact: s.redact,
    rules: Object.fromEntries(c.config.routes.map((r) => [r.id, r.parity])),
    noise: s.noise,
    databases: Object.fromEntries([...c.tenants.values()].flatMap((t) => (t.database === null ? [] : [[t.name, t.database]]))),
  };
}

function routingOf(config: CompiledConfig, overrides: ModeOverrides, ownership: OwnershipView): Routing {
  const drop = new Set([TENANT_HEADER, config.config.shadow.header]);
  if (config.tenancy.header) drop.add(config.tenancy.header.name);
  for (const s of config.services.values()) if (s.dryRunHeader) drop.add(s.dryRunHeader);
  // Per tenant, the domains its services own (from the route view: every domain has routes).
  const ownedBy = new Map<string, DomainSpec[]>();
  for (const byTenant of ownership.values()) {
    for (const [tenant, o] of byTenant) {
      if (o.owner !== 'service') continue;
      const list = ownedBy.get(tenant) ?? [];
      if (!list.includes(o.domain)) list.push(o.domain);
      ownedBy.set(tenant, list);
    }
  }
  const ryw = config.config.readYourWrites;
  const dropCookies = ryw ? Object.freeze([ryw.cookie, ownedMarkCookie(ryw.cookie)]) : undefined;
  return Object.freeze({ config, overrides, dropHeaders: drop, ownership, ownedBy, dropCookies });
}

function restartOnly(a: CompiledConfig, b: CompiledConfig): string[] {
  const keys: Array<[string, unknown, unknown]> = [
    ['listen', a.config.listen, b.config.listen],
    ['admin.host', a.config.admin.host, b.config.admin.host],
    ['admin.port', a.config.admin.port, b.config.admin.port],
    ['controlStore', a.controlStoreUrl, b.controlStoreUrl],
    ['forwarding.maxHeaderBytes', a.config.forwarding.maxHeaderBytes, b.config.forwarding.maxHeaderBytes],
    ['forwarding.headersTimeoutMs', a.config.forwarding.headersTimeoutMs, b.config.forwarding.headersTimeoutMs],
    ['shadow.bufferMiB', a.config.shadow.bufferMiB, b.config.shadow.bufferMiB],
  ];
  return keys.filter(([, x, y]) => JSON.stringify(x) !== JSON.stringify(y)).map(([k]) => k);
}

function hash(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function hostPort(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function listen(server: import('node:http').Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ProxyError('STR_ERR_PROXY_PORT_IN_USE', `port ${port} on ${host} is already in use: stop what holds it or set another port`, { cause: err })
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export { hostPort };
