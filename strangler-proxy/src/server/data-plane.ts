import crypto from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { CompiledConfig, CompiledService, CompiledTenant } from '../config/compile';
import type { ModeSetting, ProxyConfig } from '../config/schema';
import { errorBody } from '../errors';
import type { CircuitBreaker } from '../forward/breaker';
import { type Attempt, type FailureReason, forward, forwardOnce, type Outcome } from '../forward/forward';
import { acceptRequestId, requestHeaders, writtenAt, type ForwardContext } from '../forward/headers';
import type { BarrierOutcome } from '../forward/backsync-barrier';
import type { Upstreams } from '../forward/upstreams';
import type { ProxyMetrics } from '../metrics';
import { decide, MONOLITH, type Plan } from '../routes/decide';
import { RequestFacts } from './request-facts';
import { effectiveMode, type ModeOverrides } from '../routes/modes';
import type { CompiledRoute } from '../routes/table';
import type { CapturedChunks } from '../shadow/exchange';
import type { ShadowMirror } from '../shadow/mirror';
import type { CorpusCapture } from '../parity/capture';
import type { WriteLedger } from '../parity/change-witness';
import { hostName, resolveTenant } from '../tenancy/resolve';
import { BodyTooLarge, bodyPlan, prefixed, readBody } from './request-body';
import { rawAnswer, Tunnels } from './tunnels';
import { holdKey, Holds } from './holds';
import type { DomainSpec } from '@strangler/ownership';

/** What the data plane routes by: one compiled config and the store's mode settings, swapped together. */
export interface Routing {
  readonly config: CompiledConfig;
  readonly overrides: ModeOverrides;
  /** Lower-case header names no client may send upstream (tenant header, shadow and dry-run markers). */
  readonly dropHeaders: ReadonlySet<string>;
  /**
   * Write ownership where it is not plainly the monolith's: route id ->
   * tenant -> its domain's owner and hold. Empty while no domain is handed
   * over or being handed over (requests then pay one size check).
   */
  readonly ownership: OwnershipView;
  /** Per tenant, the domains whose writes its services own now (read-your-writes through back-sync). */
  readonly ownedBy: ReadonlyMap<string, readonly DomainSpec[]>;
  /** The proxy's own cookies (read-your-writes' marks), taken out of every request; undefined when read-your-writes is off. */
  readonly dropCookies: readonly string[] | undefined;
}

/** A domain route's state for one tenant: who owns the domain's writes, and until when a hand-over holds them (0: not held). */
export interface RouteOwnership {
  readonly domain: DomainSpec;
  readonly owner: 'monolith' | 'service';
  readonly holdUntil: number;
}

export type OwnershipView = ReadonlyMap<string, ReadonlyMap<string, RouteOwnership>>;

export interface DataPlaneDeps {
  readonly routing: () => Routing;
  readonly upstreams: Upstreams;
  readonly breaker: (service: string) => CircuitBreaker;
  readonly mirror: ShadowMirror;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** Told of every answer on a matched route (parity gates count what the extracted service served). */
  readonly served?: (route: string, tenant: string, servedBy: string, status: number) => void;
  /** Corpus capture: asked per matched request whether to record it; absent or null when capture is off. */
  readonly capture?: () => CorpusCapture | null;
  /** Whether the service is too far behind its change streams for this tenant to answer a read (services with freshness). */
  readonly behind?: (service: CompiledService, tenant: string) => boolean;
  /** Read-your-writes: whether the service has said that every change of this tenant committed before `atMs` is applied (services with freshness). */
  readonly applied?: (service: CompiledService, tenant: string, atMs: number) => boolean;
  /** Writes in flight and begun per tenant (shared with the shadow thread, which learns no noise across them). */
  readonly writes?: WriteLedger;
  /**
   * Read-your-writes through back-sync: waits until back-sync has carried into
   * the tenant's monolith every write the domain's service answered before
   * `markMs`, or `timeoutMs` passed (BackSyncBarrier).
   */
  readonly backSynced?: (domain: DomainSpec, tenant: string, markMs: number, timeoutMs: number) => Promise<BarrierOutcome>;
}

export interface ServerLimits {
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
}

/** Where a request goes: its tenant, route, mode setting, and the plan decide() made of them. */
interface Located {
  readonly ok: true;
  /** The routing it was located by: a request whose body was read first is located again if the routing changed meanwhile. */
  readonly routing: Routing;
  /** The route's domain, when it has one (holds, the drain of writes in flight). */
  readonly domain: DomainSpec | null;
  readonly holdUntil: number;
  readonly who: { readonly tenant: string; readonly user: string | null };
  readonly tenant: CompiledTenant;
  readonly route: CompiledRoute | null;
  readonly setting: ModeSetting | null;
  readonly service: CompiledService | null;
  readonly peer: string | undefined;
  readonly plan: Plan;
}

/**
 * The request target: a path starting with /, with no dot segments, and a
 * Host header. An absolute-form target (`GET http://acme.example/x`), which
 * a server must accept (RFC 9112, 3.2.2), is made origin-form here, its
 * authority taking the place of the Host header, so everything after
 * (tenancy by host, forwarding, copies) sees one request shape.
 */
function checkTarget(req: IncomingMessage): { url: string; path: string } | { refused: string; code: string } {
  let url = req.url ?? '';
  if (req.headers.host === undefined) return { refused: 'an HTTP/1.1 request needs a Host header', code: 'STR_ERR_PROXY_MALFORMED_REQUEST' };
  if (url.charCodeAt(0) !== 47 /* / */) {
    const absolute = ABSOLUTE_FORM.exec(url);
    if (!absolute) return { refused: 'request target must be a path starting with /, or an absolute http(s) URL with a host and no user info', code: 'STR_ERR_PROXY_BAD_TARGET' };
    url = absolute[2] === '' ? '/' : absolute[2]!.charCodeAt(0) === 63 /* ? */ ? `/${absolute[2]}` : absolute[2]!;
    replaceHost(req, absolute[1]!);
    req.url = url;
  }
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (DOT_SEGMENT.test(path)) return { refused: 'request path must not hold . or .. segments', code: 'STR_ERR_PROXY_BAD_TARGET' };
  return { url, path };
}

/** scheme://authority then an optional path or query: no user info (`@`), a non-empty host. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#@\s]+)((?:[/?][^#]*)?)$/i;

/** The Host header, in the parsed headers and the raw list the forwarder copies from, set to `host`. */
function replaceHost(req: IncomingMessage, host: string): void {
  req.headers.host = host;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host') raw[i + 1] = host;
}

/**
 * Read-your-writes: for a write (any method but GET, HEAD, OPTIONS, TRACE)
 * the monolith answers, the cookie that tells later reads when it was
 * answered; undefined when read-your-writes is off or for a read.
 */
function writeMark(ctx: RequestContext): (() => string) | undefined {
  const ryw = ctx.config.config.readYourWrites;
  if (ryw === undefined || SAFE.has(ctx.req.method!)) return undefined;
  return () => `${ryw.cookie}=${Date.now()}; Path=/; Max-Age=${Math.ceil(ryw.windowMs / 1000)}; HttpOnly; SameSite=Lax`;
}

/** The cookie that marks a write answered by a service owning its domain: the monolith has it once back-sync carried it. */
export const ownedMarkCookie = (cookie: string): string => `${cookie}-owned`;

/** Read-your-writes through back-sync: the mark of a write the owning service answered. */
function ownedWriteMark(ctx: RequestContext): (() => string) | undefined {
  const ryw = ctx.config.config.readYourWrites;
  if (ryw === undefined || SAFE.has(ctx.req.method!)) return undefined;
  return () => `${ownedMarkCookie(ryw.cookie)}=${Date.now()}; Path=/; Max-Age=${Math.ceil(ryw.windowMs / 1000)}; HttpOnly; SameSite=Lax`;
}

/** What one request's forwarding needs, built once (methods take it instead of per-request closures). */
interface RequestContext {
  readonly req: IncomingMessage;
  readonly url: string;
  readonly path: string;
  readonly started: number;
  readonly tenant: CompiledTenant;
  readonly tenantId: string;
  readonly route: CompiledRoute | null;
  readonly routeLabel: string;
  readonly requestId: string;
  readonly config: CompiledConfig;
  readonly headers: Omit<ForwardContext, 'host' | 'add'>;
}

/**
 * The request's forwarding context with its Host, as object literals: `{ ...ctx.headers, host }` made
 * a ~1.1 KiB object per request that V8 kept past its scavenges (the largest source of old-space
 * garbage in the proxy's heap profile, and so of its major collections).
 */
function forwardContext(h: RequestContext['headers'], host: string, add?: ForwardContext['add']): ForwardContext {
  if (add === undefined) return { peer: h.peer, trustedPeer: h.trustedPeer, host, proto: h.proto, via: h.via, requestId: h.requestId, drop: h.drop, dropCookie: h.dropCookie };
  return { peer: h.peer, trustedPeer: h.trustedPeer, host, proto: h.proto, via: h.via, requestId: h.requestId, drop: h.drop, dropCookie: h.dropCookie, add };
}

/** The tenant header the proxy sets for extracted services (multi-tenant: they need to know whose request it is). */
export const TENANT_HEADER = 'x-strangler-tenant';
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
/** Retry nowhere: the monolith is the last resort. */
const never = (): boolean => false;
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/**
 * The data plane: match, route, forward, shadow, fall back. Nothing here
 * reads a file or a database; it routes by whatever `routing()` returns now.
 */
export class DataPlane {
  readonly server: http.Server;
  private draining = false;
  private inflight = 0;
  private drained: (() => void) | null = null;
  private readonly tunnels: Tunnels;
  /** Writes held during hand-overs, and domain writes in flight. */
  readonly holds: Holds;

  constructor(
    private readonly deps: DataPlaneDeps,
    limits: ServerLimits,
  ) {
    this.server = http.createServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: 0,
        keepAliveTimeout: 5_000,
        connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(limits.headersTimeoutMs / 4))),
        insecureHTTPParser: false,
        // Checked in route() instead, so the refusal carries the same JSON body as every other.
        requireHostHeader: false,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    this.tunnels = new Tunnels(deps.metrics, deps.logger);
    this.holds = new Holds((key, waitedMs, outcome) => deps.metrics.held(key.slice(0, key.indexOf('\u0000')), outcome, waitedMs / 1000));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    // A reverse proxy never opens tunnels to where a client asks: said plainly, instead of Node's silent close.
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.on('error', () => {});
      socket.end(rawAnswer(405, 'STR_ERR_PROXY_METHOD_NOT_ALLOWED', 'CONNECT is not served: this is a reverse proxy, not a forward one'));
    });
  }

  get inFlight(): number {
    return this.inflight;
  }

  /**
   * Drains: new requests get 503 with Connection: close while those in
   * flight finish (or timeoutMs passes); then the listener closes.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    this.holds.expireAll();
    this.server.closeIdleConnections();
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.tunnels.closeAll();
    });
  }

  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const errCode =
      status === 431 ? 'STR_ERR_PROXY_HEADERS_TOO_LARGE' : status === 408 ? 'STR_ERR_PROXY_REQUEST_TIMEOUT' : 'STR_ERR_PROXY_MALFORMED_REQUEST';
    const message =
      status === 431 ? 'request headers are larger than this proxy accepts' : status === 408 ? 'request headers did not arrive in time' : `malformed HTTP request (${code || err.message})`;
    this.deps.metrics.refused.labels(errCode).inc();
    socket.end(rawAnswer(status, errCode, message));
  }

  private readonly responseClosed = (): void => {
    this.inflight--;
    if (this.draining && this.inflight === 0) this.drained?.();
  };

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    if (this.draining) {
      res.shouldKeepAlive = false;
      this.refuse(req, res, 503, 'STR_ERR_PROXY_DRAINING', 'the proxy is shutting down; retry on another replica', { connection: 'close', 'retry-after': '1' });
      return;
    }
    this.inflight++;
    res.on('close', this.responseClosed); // 'close' comes once per response; one listener shared by all
    try {
      this.route(req, res, started);
    } catch (err) {
      this.failed(req, res, err as Error);
    }
  }

  /** A bug inside the proxy while handling a request: logged, and a 500 if the client has no answer yet. */
  private failed(req: IncomingMessage, res: ServerResponse, err: Error): void {
    this.deps.logger.error({ err, url: req.url }, 'request failed inside the proxy');
    if (!res.headersSent) this.refuse(req, res, 500, 'STR_ERR_PROXY_INTERNAL', 'the proxy failed on this request');
    else res.destroy(err);
  }

  /**
   * Checks a request and sends it on its way: synchronous up to the
   * forwarding, then one path per kind of request. The plain case (monolith,
   * no copy, no capture) is forwarded with a callback, so nothing per request
   * waits suspended for the whole exchange.
   */
  private route(req: IncomingMessage, res: ServerResponse, started: number): void {
    const routing = this.deps.routing();
    const fwd = routing.config.config.forwarding;
    const target = checkTarget(req);
    if ('refused' in target) {
      this.refuse(req, res, 400, target.code, target.refused);
      return;
    }
    const plan = bodyPlan(req);
    if (plan.kind === 'stream' && plan.length > fwd.maxBodyBytes) {
      this.refuse(req, res, 413, 'STR_ERR_PROXY_BODY_TOO_LARGE', `request body is larger than ${fwd.maxBodyBytes} bytes`, { connection: 'close' });
      return;
    }
    const located = this.locate(req, routing, target.path);
    if (!located.ok) {
      this.refuse(req, res, located.status, located.code, located.message);
      return;
    }
    if (plan.kind !== 'chunked') {
      this.settle(req, res, located, target.url, target.path, started, plan.kind === 'stream' ? req : null);
      return;
    }
    // A chunked body is read whole (bounded) first, so that it can be replayed and its size is known.
    readBody(req, fwd.maxBodyBytes)
      .then(
        (read) => this.settle(req, res, located, target.url, target.path, started, Buffer.concat(read.chunks, read.size)),
        (err) => {
          if (err instanceof BodyTooLarge) {
            this.refuse(req, res, 413, 'STR_ERR_PROXY_BODY_TOO_LARGE', `request body is larger than ${fwd.maxBodyBytes} bytes`, { connection: 'close' });
          } else {
            res.destroy();
          }
        },
      )
      .catch((err: Error) => this.failed(req, res, err));
  }

  /**
   * Located again if the routing changed since (a body read first), then
   * held (a write to a domain being handed over) or carried out.
   */
  private settle(req: IncomingMessage, res: ServerResponse, located: Located, url: string, path: string, started: number, body: Attempt['body']): void {
    let l = located;
    const routing = this.deps.routing();
    if (l.routing !== routing) {
      const again = this.locate(req, routing, path);
      if (!again.ok) {
        this.refuse(req, res, again.status, again.code, again.message);
        return;
      }
      l = again;
    }
    if (l.plan.to === 'hold') this.hold(req, res, l, url, path, started, body);
    else this.dispatch(this.context(req, routing, l, url, path, started), res, l, body);
  }

  /**
   * A write to a domain being handed over for its tenant: queued (bounded)
   * until the routing lets it go, then decided again and sent to whoever
   * owns the domain by then; past the bound, 503 with Retry-After. Nothing
   * of it is read or sent while it waits.
   */
  private hold(req: IncomingMessage, res: ServerResponse, l: Located, url: string, path: string, started: number, body: Attempt['body']): void {
    const domain = l.domain!;
    let cancelled = false;
    res.once('close', () => (cancelled = true)); // the client gave up: the write is never sent
    const expire = (why: 'timeout' | 'stopping' | 'full') => {
      if (cancelled || res.headersSent) return;
      const message =
        why === 'full'
          ? `writes to ${domain.name} for this tenant are held while it is handed over, and ${domain.hold.maxQueued} already wait: retry shortly`
          : why === 'timeout'
            ? `${domain.name} is being handed over for this tenant and the write could not be held longer: nothing of it was sent; retry shortly`
            : 'the proxy is shutting down; nothing of the write was sent: retry on another replica';
      this.refuse(req, res, 503, why === 'stopping' ? 'STR_ERR_PROXY_DRAINING' : 'STR_ERR_PROXY_WRITES_HELD', message, { 'retry-after': '1', ...(body === req ? { connection: 'close' } : {}) });
    };
    const queued = this.holds.add(
      holdKey(domain.name, l.who.tenant),
      {
        retry: () => {
          if (cancelled) return true;
          const routing = this.deps.routing();
          const again = this.locate(req, routing, path);
          if (!again.ok) {
            this.refuse(req, res, again.status, again.code, again.message);
            return true;
          }
          if (again.plan.to === 'hold') return false;
          try {
            this.dispatch(this.context(req, routing, again, url, path, started), res, again, body);
          } catch (err) {
            this.failed(req, res, err as Error);
          }
          return true;
        },
        expire,
      },
      domain.hold.maxQueued,
      l.holdUntil - Date.now(),
    );
    if (!queued) expire('full');
  }

  /**
   * Carries out a located request's plan, once a request for the monolith
   * from a client that just wrote through a service owning a domain of its
   * tenant has waited for back-sync to carry that write (bounded).
   */
  private dispatch(ctx: RequestContext, res: ServerResponse, located: Located, body: Attempt['body']): void {
    const waits = located.plan.to === 'monolith' ? this.backSyncWaits(ctx, located) : null;
    if (waits === null) {
      this.carry(ctx, res, located, body);
      return;
    }
    const t0 = performance.now();
    Promise.all(waits.domains.map((d) => this.deps.backSynced!(d, ctx.tenantId, waits.markMs, waits.timeoutMs)))
      .then((outcomes) => {
        for (let i = 0; i < outcomes.length; i++) this.deps.metrics.backSyncWait(waits.domains[i]!.name, outcomes[i]!, (performance.now() - t0) / 1000);
        if (res.destroyed) return; // the client gave up meanwhile: nothing is sent
        this.carry(ctx, res, located, body);
      })
      .catch((err: Error) => this.failed(ctx.req, res, err));
  }

  /** The service-owned domains of the tenant whose back-sync this request waits for, with its client's mark; null when it waits for none. */
  private backSyncWaits(ctx: RequestContext, located: Located): { domains: readonly DomainSpec[]; markMs: number; timeoutMs: number } | null {
    const ryw = ctx.config.config.readYourWrites;
    if (ryw === undefined || ryw.backSyncWaitMs === 0 || this.deps.backSynced === undefined) return null;
    const domains = located.routing.ownedBy.get(ctx.tenantId);
    if (domains === undefined) return null;
    const at = writtenAt(ctx.req.headers.cookie, ownedMarkCookie(ryw.cookie));
    if (at === null) return null;
    const now = Date.now();
    if (now - at > ryw.windowMs) return null;
    // A time from the future (a clock moved back, a forged cookie) counts as now.
    return { domains, markMs: Math.min(at, now) + ryw.clockSkewMs, timeoutMs: ryw.backSyncWaitMs };
  }

  private carry(ctx: RequestContext, res: ServerResponse, located: Located, body: Attempt['body']): void {
    const { req } = ctx;
    const { route, service } = located;
    if (located.domain !== null && !SAFE.has(req.method!)) {
      // A domain's write in flight: a hand-over's drain waits until its exchange with the client is over.
      const key = holdKey(located.domain.name, ctx.tenantId);
      this.holds.begin(key);
      res.once('close', () => this.holds.end(key));
    }
    if (this.deps.writes && !SAFE.has(req.method!)) {
      // Counted until the client's exchange is over, whoever answers: noise learning takes no pair of monolith answers across it.
      const writes = this.deps.writes;
      const slot = writes.begin(ctx.tenantId);
      res.once('close', () => writes.end(slot));
    }
    const plan = located.plan;
    if (plan.to === 'hold') throw new Error('a held write reached dispatch'); // settle() and hold() never let one through
    if (plan.to === 'service') {
      this.extracted(ctx, res, route!, service!, body, 'owner' in plan).catch((err: Error) => this.failed(req, res, err));
      return;
    }
    if ('copy' in plan) {
      this.shadowed(ctx, res, route!, service!, body).catch((err: Error) => this.failed(req, res, err));
      return;
    }
    if ('heldBack' in plan) {
      // The service lacks recent changes of this tenant, or this client's own write: the monolith answers the read (not a failure: gates do not count it).
      this.deps.metrics.fallbacks.labels(ctx.routeLabel, service!.name, plan.heldBack).inc();
      forwardOnce(res, this.monolithAttempt(ctx, body), { via: ctx.config.config.forwarding.via, requestId: ctx.requestId, retryable: never })
        .then((o) => this.finish(ctx, o, 'fallback'))
        .catch((err: Error) => this.failed(req, res, err));
      return;
    }
    // A copy left out (the sample, a full queue, copies that keep failing, a service behind) is known before
    // anything is captured: the request then costs what it costs in monolith mode, and the skip is counted.
    if ('skipped' in plan) this.deps.metrics.shadow.inc(route!.id, plan.skipped);
    this.toMonolith(ctx, res, body);
  }

  /** To the tenant's monolith: recorded when the corpus capture samples it, otherwise forwarded as it is. */
  private toMonolith(ctx: RequestContext, res: ServerResponse, body: Attempt['body']): void {
    const { req, route } = ctx;
    const corpus = route ? this.deps.capture?.() : null;
    if (corpus && route && corpus.take(route.id)) {
      this.captured(ctx, res, route, corpus, body).catch((err: Error) => this.failed(req, res, err));
      return;
    }
    forward(res, this.monolithAttempt(ctx, body), { via: ctx.config.config.forwarding.via, requestId: ctx.requestId, retryable: never, setCookie: writeMark(ctx) }, (o) => this.finished(ctx, o));
  }

  /** Extracted mode: to the service, behind its breaker, with fallback to the monolith where that is safe. */
  private async extracted(ctx: RequestContext, res: ServerResponse, route: CompiledRoute, service: CompiledService, body: Attempt['body'], owner = false): Promise<void> {
    const { req, requestId, routeLabel } = ctx;
    const via = ctx.config.config.forwarding.via;
    const breaker = this.deps.breaker(service.name);
    // The service owns the domain's writes: a write it cannot take is refused, never sent to the monolith (which no longer owns the data).
    const ownWrite = owner && !SAFE.has(req.method!);
    if (ownWrite && !breaker.allow()) {
      this.deps.served?.(route.id, ctx.tenantId, 'extracted', 503);
      this.refuse(req, res, 503, 'STR_ERR_PROXY_OWNER_UNAVAILABLE', `${service.name} owns this data and is failing (its breaker is open): nothing was sent; retry shortly`, { 'retry-after': '1' });
      return;
    }
    if (!breaker.allow()) {
      this.deps.metrics.fallbacks.labels(routeLabel, service.name, 'breaker_open').inc();
      this.deps.served?.(route.id, ctx.tenantId, 'extracted', 503); // the service is failing: gates count it
      this.finish(ctx, await forwardOnce(res, this.monolithAttempt(ctx, body), { via, requestId, retryable: never, setCookie: writeMark(ctx) }), 'fallback');
      return;
    }
    const replayable = body === null || Buffer.isBuffer(body);
    const method = req.method!;
    const retryable = ownWrite ? never : (reason: FailureReason) => (reason === 'connect' ? replayable || !req.readableDidRead : IDEMPOTENT.has(method) && replayable);
    const outcome = await forwardOnce(res, this.serviceAttempt(ctx, service, body), { via, requestId, retryable, setCookie: ownWrite ? ownedWriteMark(ctx) : undefined });
    const failed = outcome.kind === 'retry' || (outcome.kind === 'failed' && outcome.status !== 499) || (outcome.kind === 'sent' && outcome.status >= 500);
    if (failed) breaker.failure();
    else if (outcome.kind === 'sent') breaker.success();
    if (outcome.kind === 'retry') {
      this.deps.metrics.fallbacks.labels(routeLabel, service.name, outcome.reason).inc();
      this.deps.served?.(route.id, ctx.tenantId, 'extracted', 502); // the client got the monolith's answer; the service failed
      this.finish(ctx, await forwardOnce(res, this.monolithAttempt(ctx, body), { via, requestId, retryable: never, setCookie: writeMark(ctx) }), 'fallback');
      return;
    }
    this.finish(ctx, outcome, 'extracted');
  }

  /** Shadow mode: the monolith answers, its answer is captured, and the copy goes to the shadow thread once the client has it. */
  private async shadowed(ctx: RequestContext, res: ServerResponse, route: CompiledRoute, service: CompiledService, body: Attempt['body']): Promise<void> {
    const { req, requestId, config } = ctx;
    const plan = await this.shadowBody(route, service, req, body, config);
    // The body may have been read (in part) to copy it: from here on, forward what the plan says.
    if (!plan.mirror) {
      this.toMonolith(ctx, res, plan.primary);
      return;
    }
    const seen = new ResponseCapture(config.config.shadow.maxBodyBytes);
    const outcome = await forwardOnce(res, this.monolithAttempt(ctx, plan.primary), { via: config.config.forwarding.via, requestId, retryable: never, setCookie: writeMark(ctx), observe: seen });
    this.finish(ctx, outcome, 'monolith');
    // The copy is handed over once the client has its answer (the shadow thread does the rest).
    const primary = seen.result(outcome);
    if (primary === null) {
      this.deps.breaker(service.name).release();
      return;
    }
    this.handOver(ctx, route, service, plan.copy, primary);
  }

  /** Corpus capture: a sampled request is recorded with the monolith's answer (its body read first, up to the cap). */
  private async captured(ctx: RequestContext, res: ServerResponse, route: CompiledRoute, corpus: CorpusCapture, body: Attempt['body']): Promise<void> {
    const { req, config } = ctx;
    let copy: Buffer | null = null;
    let whole = true;
    if (Buffer.isBuffer(body)) copy = body;
    else if (body !== null && body !== req) whole = false; // already read in part (a shadow copy that did not fit): not recorded
    else if (body !== null) {
      const read = await readBody(req, Number.MAX_SAFE_INTEGER, config.config.shadow.maxBodyBytes);
      whole = read.complete;
      body = read.complete ? Buffer.concat(read.chunks, read.size) : prefixed(read.chunks, req);
      copy = read.complete ? (body as Buffer) : null;
    }
    const seen = new ResponseCapture(config.config.shadow.maxBodyBytes);
    const outcome = await forwardOnce(res, this.monolithAttempt(ctx, body), { via: config.config.forwarding.via, requestId: ctx.requestId, retryable: never, setCookie: writeMark(ctx), observe: seen });
    this.finish(ctx, outcome, 'monolith');
    const answer = seen.result(outcome);
    if (whole && answer && !answer.truncated) this.record(corpus, route.id, ctx.tenantId, req, ctx.url, copy, answer);
  }

  /** Tenant, route, mode and plan of a request whose target is a valid path. */
  private locate(req: IncomingMessage, routing: Routing, path: string): Located | { ok: false; status: number; code: string; message: string } {
    const { config } = routing;
    const peer = req.socket.remoteAddress;
    const who = resolveTenant(config, req.headers, peer);
    if (!who.ok) return who;
    const tenant = config.tenants.get(who.tenant)!;
    const host = hostName(req.headers.host) ?? '';
    const route = config.table.match(req.method!, path, host, req.headers);
    const setting = route === null ? null : effectiveMode(route, who.tenant, routing.overrides);
    const service = route?.service ? config.services.get(route.service) ?? null : null;
    const owned = route !== null && routing.ownership.size > 0 ? routing.ownership.get(route.id)?.get(who.tenant) : undefined;
    // Monolith mode (the common case) is decided without building the facts: decide() would answer MONOLITH before asking any.
    const plan =
      route && service && setting && (setting.mode !== 'monolith' || owned !== undefined)
        ? decide(new RequestFacts(this.deps, config, req, route, setting, service, who.tenant, who.user, peer, owned ?? null))
        : MONOLITH;
    const domain = owned?.domain ?? (route === null || config.domains.size === 0 ? null : config.domainOfRoute.get(route.id) ?? null);
    return { ok: true, routing, domain, holdUntil: owned?.holdUntil ?? 0, who: { tenant: who.tenant, user: who.user }, tenant, route, setting, service, peer, plan };
  }

  private context(req: IncomingMessage, routing: Routing, located: Located, url: string, path: string, started: number): RequestContext {
    const { config } = routing;
    const requestId = acceptRequestId(req.headers['x-request-id']) ?? nextRequestId();
    return {
      req,
      url,
      path,
      started,
      tenant: located.tenant,
      tenantId: located.who.tenant,
      route: located.route,
      routeLabel: located.route?.id ?? 'unmatched',
      requestId,
      config,
      headers: {
        peer: located.peer ?? '',
        trustedPeer: config.trustedProxy(located.peer),
        proto: 'http',
        via: config.config.forwarding.via,
        requestId,
        drop: routing.dropHeaders,
        dropCookie: routing.dropCookies,
      },
    };
  }

  /**
   * A protocol upgrade (WebSocket and the like): tenant, route and target as
   * for any request, then a raw tunnel to that upstream (the monolith when an
   * extracted service cannot be reached or its breaker is open: nothing was
   * sent yet). No shadow copy: a tunnel cannot be replayed.
   */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.draining) {
      socket.end(rawAnswer(503, 'STR_ERR_PROXY_DRAINING', 'the proxy is shutting down; retry on another replica'));
      return;
    }
    const routing = this.deps.routing();
    const checked = checkTarget(req);
    if ('refused' in checked) {
      this.deps.metrics.refused.labels(checked.code).inc();
      socket.end(rawAnswer(400, checked.code, checked.refused));
      return;
    }
    const located = this.locate(req, routing, checked.path);
    if (!located.ok) {
      this.deps.metrics.refused.labels(located.code).inc();
      socket.end(rawAnswer(located.status, located.code, located.message));
      return;
    }
    const ctx = this.context(req, routing, located, checked.url, checked.path, performance.now());
    const upgradeHeaders = (attempt: Attempt): string[] => [...attempt.headers, 'connection', 'upgrade', 'upgrade', String(req.headers.upgrade ?? '')];
    const monolith = () => ({ origin: ctx.tenant.monolith, headers: upgradeHeaders(this.monolithAttempt(ctx, null)), target: 'monolith', connectMs: 5_000 });
    const service = located.service;
    let first = monolith();
    let fallback: typeof first | null = null;
    if (located.plan.to === 'service' && service) {
      const breaker = this.deps.breaker(service.name);
      if (breaker.allow()) {
        first = { origin: service.url, headers: upgradeHeaders(this.serviceAttempt(ctx, service, null)), target: 'extracted', connectMs: service.timeouts.connectMs };
        fallback = monolith();
      } else {
        this.deps.metrics.fallbacks.labels(ctx.routeLabel, service.name, 'breaker_open').inc();
      }
    }
    this.tunnels.open(socket, head, `${req.method} ${ctx.url} HTTP/1.1`, { route: ctx.routeLabel, tenant: ctx.tenantId }, first, fallback, (failedTarget) => {
      if (failedTarget === 'extracted' && service) {
        this.deps.breaker(service.name).failure();
        this.deps.metrics.fallbacks.labels(ctx.routeLabel, service.name, 'connect').inc();
      }
    });
  }

  private monolithAttempt(ctx: RequestContext, body: Attempt['body']): Attempt {
    const fwd = ctx.config.config.forwarding;
    const monolith = ctx.tenant.monolith;
    return {
      dispatcher: this.monolithPool(ctx.tenant, fwd),
      method: ctx.req.method!,
      path: ctx.url,
      headers: requestHeaders(ctx.req.rawHeaders, forwardContext(ctx.headers, fwd.preserveHost ? ctx.req.headers.host ?? authority(monolith) : authority(monolith))),
      body,
    };
  }

  private serviceAttempt(ctx: RequestContext, s: CompiledService, body: Attempt['body'], extra: (readonly [string, string])[] = []): Attempt {
    const fwd = ctx.config.config.forwarding;
    return {
      dispatcher: this.servicePool(s, fwd),
      method: ctx.req.method!,
      path: ctx.url,
      headers: requestHeaders(
        ctx.req.rawHeaders,
        forwardContext(ctx.headers, fwd.preserveHost ? ctx.req.headers.host ?? authority(s.url) : authority(s.url), [[TENANT_HEADER, ctx.tenantId], ...extra]),
      ),
      body,
    };
  }

  /** finish() for a callback from the forwarding, which must not throw into undici. */
  private finished(ctx: RequestContext, o: Outcome): void {
    try {
      this.finish(ctx, o, 'monolith');
    } catch (err) {
      this.deps.logger.error({ err, url: ctx.url }, 'accounting for a request failed inside the proxy');
    }
  }

  /**
   * Metrics, the gates' count and the access log line of one answered
   * request. `servedBy`: monolith, extracted, or fallback (the monolith
   * answered a request meant for the service: it failed, its breaker is
   * open, or it is behind the tenant).
   */
  private finish(ctx: RequestContext, o: Outcome, servedBy: 'monolith' | 'extracted' | 'fallback'): void {
    const status = o.kind === 'retry' ? 502 : o.status;
    this.deps.metrics.observe(ctx.routeLabel, servedBy, ctx.tenantId, status, (performance.now() - ctx.started) / 1000, !SAFE.has(ctx.req.method!));
    if (ctx.route) this.deps.served?.(ctx.route.id, ctx.tenantId, servedBy, status);
    if (o.kind !== 'sent' && o.error) {
      // The proxy answered for an upstream that failed: why, whatever the access log's setting (the client only sees the code).
      const code = (o.error as NodeJS.ErrnoException).code;
      this.deps.logger.warn({ reqId: ctx.requestId, route: ctx.routeLabel, tenant: ctx.tenantId, target: servedBy, status, error: { code, message: o.error.message } }, 'upstream failed');
    }
    if (ctx.config.config.log.access) {
      this.deps.logger.info(
        { reqId: ctx.requestId, method: ctx.req.method, path: ctx.path, tenant: ctx.tenantId, route: ctx.routeLabel, target: servedBy, status, ms: Math.round((performance.now() - ctx.started) * 100) / 100 },
        'request',
      );
    }
  }

  /** Hands a finished shadowed exchange to the mirror (and to the corpus when sampled): the copy's headers, the noise probe, the probe breaker. */
  private handOver(ctx: RequestContext, route: CompiledRoute, service: CompiledService, copyBody: Buffer | null, primary: CapturedChunks): void {
    const { req, config } = ctx;
    const shadow = config.config.shadow;
    const extra: (readonly [string, string])[] = [[shadow.header, '1']];
    if (!SAFE.has(req.method!) && service.dryRunHeader) extra.push([service.dryRunHeader, '1']);
    const again = SAFE.has(req.method!) && Math.random() < shadow.noiseSampleRate ? { origin: ctx.tenant.monolith, headers: this.monolithAttempt(ctx, null).headers } : undefined;
    const corpus = this.deps.capture?.();
    if (corpus && corpus.take(route.id) && !primary.truncated) this.record(corpus, route.id, ctx.tenantId, req, ctx.url, copyBody, primary);
    // A copy reports to the breaker only as its half-open probe: shadow failures alone never open it (the clients are not hurt).
    const breaker = this.deps.breaker(service.name);
    const probe = breaker.state === 'half-open' ? { breaker } : {};
    const copy = this.serviceAttempt(ctx, service, copyBody, extra);
    this.deps.mirror.submit({ route: route.id, tenant: ctx.tenantId, service: service.name, requestedAt: performance.timeOrigin + ctx.started, origin: service.url, method: copy.method, path: copy.path, headers: copy.headers, body: copyBody, primary, ...probe, ...(again ? { again } : {}) });
  }

  private record(corpus: CorpusCapture, route: string, tenant: string, req: IncomingMessage, url: string, body: Buffer | null, response: CapturedChunks): void {
    try {
      corpus.record({ route, tenant, method: req.method!, path: url, headers: req.headers, body, response: { ...response, body: Buffer.concat(response.chunks, response.size) } });
    } catch (err) {
      this.deps.logger.warn({ err }, 'corpus capture failed');
    }
  }

  // Pools by config object: a reload brings new objects, and the lookup stays one WeakMap hit.
  private readonly pools = new WeakMap<object, Dispatcher>();

  private monolithPool(tenant: CompiledTenant, fwd: ProxyConfig['forwarding']): Dispatcher {
    let pool = this.pools.get(tenant);
    if (pool === undefined) {
      pool = this.deps.upstreams.get(tenant.monolith, { connections: fwd.connections, connectMs: 5_000, headersMs: fwd.upstreamHeadersTimeoutMs, bodyMs: fwd.upstreamBodyTimeoutMs });
      this.pools.set(tenant, pool);
    }
    return pool;
  }

  private servicePool(s: CompiledService, fwd: ProxyConfig['forwarding']): Dispatcher {
    let pool = this.pools.get(s);
    if (pool === undefined) {
      pool = this.deps.upstreams.get(s.url, { connections: fwd.connections, connectMs: s.timeouts.connectMs, headersMs: s.timeouts.headersMs, bodyMs: s.timeouts.bodyMs });
      this.pools.set(s, pool);
    }
    return pool;
  }

  /**
   * Decides whether this request is mirrored and with what body: `primary`
   * is what the monolith must now be sent (a streamed body read in part is
   * put back in front of the rest), `copy` what the service gets.
   */
  private async shadowBody(
    route: CompiledRoute,
    service: CompiledService,
    req: IncomingMessage,
    body: Attempt['body'],
    config: CompiledConfig,
  ): Promise<{ mirror: true; primary: Attempt['body']; copy: Buffer | null } | { mirror: false; primary: Attempt['body'] }> {
    const shadowCfg = config.config.shadow;
    const count = (outcome: string) => this.deps.metrics.shadow.inc(route.id, outcome);
    // (A write without a dry-run contract never gets here: decide() planned it skipped_write.)
    let copy: Buffer | null = null;
    if (Buffer.isBuffer(body)) {
      if (body.length > shadowCfg.maxBodyBytes) {
        count('skipped_body_too_large');
        return { mirror: false, primary: body };
      }
      copy = body;
    } else if (body !== null) {
      // A streamed body: read up to the mirror cap; past it, the primary gets what was read and then the rest.
      const read = await readBody(req, Number.MAX_SAFE_INTEGER, shadowCfg.maxBodyBytes);
      if (!read.complete) {
        count('skipped_body_too_large');
        return { mirror: false, primary: prefixed(read.chunks, req) };
      }
      copy = Buffer.concat(read.chunks, read.size);
      body = copy;
    }
    // allow(), not state: once open long enough, a copy is the probe that finds the service healthy again.
    if (!this.deps.breaker(service.name).allow()) {
      count('skipped_breaker_open');
      return { mirror: false, primary: body };
    }
    return { mirror: true, primary: body, copy };
  }

  private refuse(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
    this.deps.metrics.refused.labels(code).inc();
    const body = errorBody(code, message);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
    if (headers.connection === 'close') {
      // Whatever body the client still sends is not read, let alone forwarded.
      req.socket.once('finish', () => req.socket.destroy());
    }
  }
}

// Request ids: a random per-process prefix and a counter; unique across replicas and restarts, and far cheaper than a UUID per request.
const ID_PREFIX = crypto.randomBytes(6).toString('base64url');
let idCounter = 0;
function nextRequestId(): string {
  return `${ID_PREFIX}-${(++idCounter).toString(36)}`;
}

function authority(origin: string): string {
  return origin.slice(origin.indexOf('//') + 2);
}

/** Records the primary's answer (capped) for the shadow comparison as it streams: chunk references only, nothing copied here. */
class ResponseCapture {
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;
  private readonly started = performance.now();

  constructor(private readonly cap: number) {}

  head(s: number, h: Record<string, string | string[] | undefined>): void {
    this.status = s;
    this.headers = h as Record<string, string | string[]>;
  }

  chunk(c: Buffer): void {
    if (this.truncated) return;
    if (this.size + c.length > this.cap) this.truncated = true;
    else {
      this.chunks.push(c);
      this.size += c.length;
    }
  }

  end(): void {}

  /** The captured answer, or null when the primary did not complete (nothing to compare with). */
  result(o: Outcome): CapturedChunks | null {
    if (o.kind !== 'sent') return null;
    return { status: this.status, headers: this.headers, chunks: this.chunks, size: this.size, truncated: this.truncated, ms: performance.now() - this.started };
  }
}

