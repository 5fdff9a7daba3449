import os from 'node:os';
import type { Logger } from 'pino';
import { conflicts, type DomainSpec, Handover, holds, type HandoverResult, type Owner, OwnershipError, type RouteParity } from '@strangler/ownership';
import type { CompiledConfig } from '../config/compile';
import type { ControlStore } from '../control/store';
import type { DomainOwnership, OwnershipSnapshot } from '../control/ownership-store';
import { ProxyError } from '../errors';
import type { ProxyMetrics } from '../metrics';
import type { ParityStats } from '../parity/shadow-parity';
import type { OwnershipView, RouteOwnership } from './data-plane';
import { holdKey, type Holds } from './holds';

/** A held write waits this long past its hand-over's hold.maxMs (the proxies' and the store's clocks may differ a little). */
export const HOLD_GRACE_MS = 500;
const BEAT_MS = 1_000;
const RECOVER_MS = 2_000;
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * The routing view of write ownership: for every route of a domain, the
 * tenants whose domain the service owns or a hand-over holds. Empty while
 * every domain is plainly the monolith's.
 */
export function ownershipView(config: CompiledConfig, snap: OwnershipSnapshot): OwnershipView {
  const view = new Map<string, Map<string, RouteOwnership>>();
  for (const e of snap.entries) {
    const domain = config.domains.get(e.domain);
    if (!domain) continue;
    const h = e.handover;
    const holdUntil = h !== null && h.holdUntil !== null && holds(h.step) ? h.holdUntil + HOLD_GRACE_MS : 0;
    if (e.owner === 'monolith' && holdUntil === 0) continue;
    const state: RouteOwnership = Object.freeze({ domain, owner: e.owner, holdUntil });
    for (const route of domain.routes) {
      let m = view.get(route);
      if (!m) view.set(route, (m = new Map()));
      m.set(e.tenant, state);
    }
  }
  return view;
}

/**
 * One proxy process's part in write ownership: it beats in the control
 * store (a hand-over waits for the live processes), acknowledges each hold
 * once its own writes of the domain in flight are over, runs the hand-overs
 * asked of it through the admin API, and takes up one whose runner stopped.
 */
export class OwnershipAgent {
  private beatTimer: NodeJS.Timeout | null = null;
  private recoverTimer: NodeJS.Timeout | null = null;
  private readonly acked = new Set<number>();
  private snap: OwnershipSnapshot = { rev: 0, entries: [] };
  private stopped = false;

  constructor(
    readonly process: string,
    private readonly store: ControlStore,
    private readonly holdsOf: () => Holds,
    private readonly config: () => CompiledConfig,
    private readonly parityStats: (route: string, tenant: string, windowMs: number) => ParityStats,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.store.ownership.beat(this.process, os.hostname());
    const beat = () => {
      this.beatTimer = setTimeout(async () => {
        await this.store.ownership.beat(this.process, os.hostname()).catch((err: unknown) => this.logger.warn({ err }, 'could not beat in the control store: hand-overs will not wait for this process'));
        if (!this.stopped) beat();
      }, BEAT_MS).unref();
    };
    beat();
    const recover = () => {
      this.recoverTimer = setTimeout(async () => {
        await this.recoverOne().catch((err: unknown) => this.logger.error({ err }, 'could not take up a hand-over whose runner stopped'));
        if (!this.stopped) recover();
      }, RECOVER_MS).unref();
    };
    recover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.beatTimer) clearTimeout(this.beatTimer);
    if (this.recoverTimer) clearTimeout(this.recoverTimer);
    await this.store.ownership.leave(this.process).catch(() => {});
  }

  /** The routing now follows `snap`: acknowledge every hold this process has not yet, once its writes in flight are over. */
  follow(snap: OwnershipSnapshot): void {
    this.snap = snap;
    // Hand-overs that no longer run need no acknowledgement kept.
    const running = new Set(snap.entries.flatMap((e) => (e.handover ? [e.handover.id] : [])));
    for (const id of this.acked) if (!running.has(id)) this.acked.delete(id);
    for (const e of snap.entries) {
      const d = this.config().domains.get(e.domain);
      if (d) this.metrics.ownedByService.set({ domain: e.domain, tenant: e.tenant }, e.owner === 'service' ? 1 : 0);
      const h = e.handover;
      if (h === null || h.holdUntil === null || !holds(h.step) || this.acked.has(h.id)) continue;
      this.acked.add(h.id);
      const key = holdKey(e.domain, e.tenant);
      void this.holdsOf()
        .drained(key)
        .then(() => this.store.ownership.ack(h.id, this.process))
        .catch((err: unknown) => {
          this.acked.delete(h.id);
          this.logger.warn({ err, handover: h.id }, 'could not acknowledge a hold');
        });
    }
  }

  /** Runs one hand-over here (the admin API's POST /ownership/:domain/:tenant). */
  async handOver(domainName: string, tenant: string, to: Owner, actor: string, reason: string, force: boolean): Promise<HandoverResult> {
    const config = this.config();
    const domain = config.domains.get(domainName);
    if (!domain) throw new ProxyError('STR_ERR_DOMAIN_UNKNOWN', `no domain "${domainName}" (known: ${[...config.domains.keys()].join(', ') || 'none: declare one under domains'})`, { status: 404 });
    if (!config.tenants.has(tenant)) throw new ProxyError('STR_ERR_TENANT_UNKNOWN', `no tenant "${tenant}" (known: ${[...config.tenants.keys()].join(', ')})`, { status: 404 });
    try {
      const result = await this.handover(domain).run({ domain, tenant, to, actor, reason, force });
      this.metrics.handovers.inc({ domain: domainName, to, status: 'done' });
      this.logger.warn({ handover: result }, `${domainName} of ${tenant} handed to the ${to}`);
      return result;
    } catch (err) {
      const refused = err instanceof OwnershipError && (err.code === 'STR_ERR_OWNERSHIP_REFUSED' || err.code === 'STR_ERR_OWNERSHIP_BUSY');
      this.metrics.handovers.inc({ domain: domainName, to, status: refused ? 'refused' : 'aborted' });
      this.logger.error({ err, domain: domainName, tenant, to }, refused ? 'hand-over refused' : 'hand-over failed; the old owner keeps the domain');
      if (err instanceof OwnershipError) {
        throw new ProxyError(err.code, err.message, { status: refused ? 409 : err.code === 'STR_ERR_OWNERSHIP_TIMEOUT' ? 504 : 502, context: err.context ?? {} });
      }
      throw err;
    }
  }

  /** GET /ownership: every domain's owner per tenant, the hand-over running and its step, writes held here, the latest hand-overs. */
  async status(limit = 20) {
    const config = this.config();
    const entries = new Map(this.snap.entries.map((e) => [`${e.domain}\u0000${e.tenant}`, e]));
    const holds = this.holdsOf();
    const recent = await this.store.ownership.handovers(null, null, limit);
    return {
      domains: [...config.domains.values()].map((d) => ({
        domain: d.name,
        service: d.service,
        tables: d.tables,
        routes: d.routes,
        fence: d.fence,
        tenants: [...config.tenants.keys()].map((t) => {
          const e: DomainOwnership | undefined = entries.get(`${d.name}\u0000${t}`);
          return { tenant: t, owner: e?.owner ?? 'monolith', epoch: e?.epoch ?? 0, handover: e?.handover ?? null, heldHere: holds.depth(holdKey(d.name, t)), inFlightHere: holds.inFlight(holdKey(d.name, t)) };
        }),
      })),
      handovers: recent,
    };
  }

  /** Monolith writes to a domain's tables while its service owned them, as the service's projector recorded them. */
  async conflicts(domainName: string, tenant: string | null, limit: number) {
    const config = this.config();
    const domain = config.domains.get(domainName);
    if (!domain) throw new ProxyError('STR_ERR_DOMAIN_UNKNOWN', `no domain "${domainName}" (known: ${[...config.domains.keys()].join(', ') || 'none'})`, { status: 404 });
    const service = config.services.get(domain.service)!;
    if (!service.database) throw new ProxyError('STR_ERR_DOMAIN_UNKNOWN', `services.${domain.service}.database is not set`, { status: 409 });
    return conflicts(service.database, tenant, domain.name, limit);
  }

  private handover(domain: DomainSpec): Handover {
    const config = this.config();
    return new Handover(
      this.store.ownership.control(this.process),
      (tenant) => endpoints(config, tenant, domain),
      (routes, tenant) => writeRouteParity(config, routes, tenant, this.parityStats),
    );
  }

  /** Takes up one hand-over whose runner's lease ran out, if any. */
  private async recoverOne(): Promise<void> {
    const h = await this.store.ownership.takeOver(this.process);
    if (!h) return;
    const domain = this.config().domains.get(h.domain);
    if (!domain) {
      this.logger.error({ handover: h.id, domain: h.domain }, 'a hand-over of a domain this config does not declare stopped half-way: left for an operator');
      return;
    }
    const epoch = Number((h.steps[0] as { epoch?: number } | undefined)?.epoch ?? 0);
    const outcome = await this.handover(domain).recover({ id: h.id, domain, tenant: h.tenant, to: h.to, epoch, done: h.steps.map((s) => s.step) });
    this.logger.warn({ handover: h.id, domain: h.domain, tenant: h.tenant, outcome }, outcome === 'undone' ? 'took up a hand-over whose runner stopped before the flip: back to the old owner' : 'took up a hand-over whose runner stopped after the flip: finished');
  }
}

function endpoints(config: CompiledConfig, tenant: string, domain: DomainSpec) {
  const t = config.tenants.get(tenant)!;
  const svc = config.services.get(domain.service)!;
  if (!t.database) throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', `tenants.${tenant}.database is not set: a hand-over fences and reads ${tenant}'s monolith database`);
  if (!svc.database) throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', `services.${svc.name}.database is not set: a hand-over records ownership there`);
  const freshnessUrl = svc.freshness?.url ?? `${svc.url}${svc.freshness?.path ?? '/freshness'}`;
  return { monolithDb: t.database, serviceDb: svc.database, freshnessUrl };
}

/** Shadow parity of each of a domain's routes that take writes, for the tenant, over the last ten minutes. */
function writeRouteParity(config: CompiledConfig, routes: readonly string[], tenant: string, stats: (route: string, tenant: string, windowMs: number) => ParityStats): RouteParity[] {
  return routes
    .map((id) => config.table.byId.get(id))
    .filter((r) => r !== undefined && (r.methods === null || [...r.methods].some((m) => !SAFE.has(m))))
    .map((r) => {
      const s = stats(r!.id, tenant, 600_000);
      return { route: r!.id, compared: s.matched + s.mismatches, mismatched: s.mismatches };
    });
}
