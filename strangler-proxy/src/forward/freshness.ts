import { z } from 'zod';
import type { CompiledService } from '../config/compile';

/** The part of a service's `GET /freshness` (cdc's FreshnessReport) the proxy reads. */
const Report = z.object({
  tenants: z.array(z.object({ tenant: z.string(), behindMs: z.number().min(0), pending: z.number().min(0).optional(), loading: z.boolean().optional(), appliedThrough: z.string().nullable().optional() })),
});

/** A tenant's line in the last report. */
export interface TenantFreshness {
  readonly behindMs: number;
  /** Changes it has fetched and not yet applied (its lag in events), when it says. */
  readonly pending: number | null;
  /** Its initial snapshot is still being applied: the service's copy is incomplete. */
  readonly loading: boolean;
  /** Every change committed before this source time (ms since the epoch) is applied; null when the service does not say. */
  readonly appliedThrough: number | null;
}

export interface FreshnessEvents {
  /** A service's answer, per tenant (metrics). */
  readonly reported: (service: string, tenants: ReadonlyMap<string, TenantFreshness>) => void;
  /** A poll failed or answered something else than a report; said once until it answers again. */
  readonly lost: (service: string, reason: string) => void;
  /** Answering again after `lost`. */
  readonly found: (service: string) => void;
}

export interface FreshnessView {
  readonly maxBehindMs: number;
  /** Whether the last poll answered and is recent enough to act on. */
  readonly reporting: boolean;
  readonly polledAt: string | null;
  /** Per tenant, as last reported, and whether its reads go to the monolith now (a tenant the report leaves out is held back too). */
  readonly tenants: Readonly<Record<string, { readonly behindMs: number; readonly pending: number | null; readonly loading: boolean; readonly appliedThrough: string | null; readonly heldBack: boolean }>>;
}

interface Poller {
  /** The settings it polls with: a reload that changes them starts a new poller. */
  readonly key: string;
  timer: NodeJS.Timeout | null;
  /** When the last report came, and each tenant's behindMs in it. */
  known: { readonly at: number; readonly tenants: ReadonlyMap<string, TenantFreshness> } | null;
  lost: boolean;
}

/**
 * Polls each extracted service that declares `freshness`, off the request
 * path, and answers per service and tenant whether the service is too far
 * behind its change streams to answer a read: the oldest change it has not
 * applied is older than `maxBehindMs` (the figure grows with the time since
 * the poll while something is pending), the tenant's initial snapshot is
 * still being applied (`loading`), or the report leaves the tenant out (the
 * service has not said it holds anything of it: a tenant onboarded since it
 * started, before its first events). A service that has not answered for 3
 * polls is trusted again: its failures are the breaker's business.
 */
export class FreshnessWatch {
  private readonly pollers = new Map<string, Poller>();
  private stopped = false;

  constructor(
    private readonly events: FreshnessEvents,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts, restarts or stops pollers to match the config's services (at start and after every reload). */
  sync(services: Iterable<CompiledService>): void {
    const wanted = new Map([...services].filter((s) => s.freshness !== undefined).map((s) => [s.name, s]));
    for (const [name, p] of this.pollers) {
      const s = wanted.get(name);
      if (s === undefined || keyOf(s) !== p.key) {
        if (p.timer) clearTimeout(p.timer);
        this.pollers.delete(name);
      }
    }
    for (const [name, s] of wanted) {
      if (this.pollers.has(name)) continue;
      const p: Poller = { key: keyOf(s), timer: null, known: null, lost: false };
      this.pollers.set(name, p);
      this.schedule(s, p, 0);
    }
  }

  /** Whether reads for this tenant should go to the monolith now. */
  behind(service: CompiledService, tenant: string): boolean {
    const f = service.freshness;
    if (f === undefined) return false;
    const known = this.pollers.get(service.name)?.known;
    if (!known) return false;
    const age = this.now() - known.at;
    if (age > 3 * f.pollMs) return false;
    const t = known.tenants.get(tenant);
    if (t === undefined || t.loading) return true;
    return t.behindMs > 0 && t.behindMs + age > f.maxBehindMs;
  }

  /**
   * Read-your-writes: whether the service has said, for this tenant, that
   * every change committed before `atMs` is applied. Without a report
   * saying so (none yet, the tenant loading or left out, a service that does
   * not report `appliedThrough`, or no freshness declared), no: a client's
   * own write must not be missing from what it reads, so the monolith
   * answers. A stale report only says less (the bound never goes back).
   */
  applied(service: CompiledService, tenant: string, atMs: number): boolean {
    if (service.freshness === undefined) return false;
    const t = this.pollers.get(service.name)?.known?.tenants.get(tenant);
    return t !== undefined && !t.loading && t.appliedThrough !== null && t.appliedThrough > atMs;
  }

  /** What the proxy knows of a service's freshness (GET /services): null for a service that does not declare it. */
  view(service: CompiledService): FreshnessView | null {
    const f = service.freshness;
    if (f === undefined) return null;
    const p = this.pollers.get(service.name);
    const known = p?.known ?? null;
    const current = known !== null && this.now() - known.at <= 3 * f.pollMs;
    return {
      maxBehindMs: f.maxBehindMs,
      reporting: current && !p!.lost,
      polledAt: known === null ? null : new Date(known.at).toISOString(),
      tenants: Object.fromEntries(
        [...(known?.tenants ?? new Map<string, TenantFreshness>())].map(([t, f]) => [
          t,
          { behindMs: f.behindMs, pending: f.pending, loading: f.loading, appliedThrough: f.appliedThrough === null ? null : new Date(f.appliedThrough).toISOString(), heldBack: this.behind(service, t) },
        ]),
      ),
    };
  }

  stop(): void {
    this.stopped = true;
    for (const p of this.pollers.values()) if (p.timer) clearTimeout(p.timer);
    this.pollers.clear();
  }

  private schedule(s: CompiledService, p: Poller, delayMs: number): void {
    p.timer = setTimeout(() => void this.poll(s, p), delayMs);
    p.timer.unref();
  }

  private async poll(s: CompiledService, p: Poller): Promise<void> {
    const f = s.freshness!;
    try {
      const res = await fetch(f.url ?? `${s.url.replace(/\/$/, '')}${f.path}`, { signal: AbortSignal.timeout(Math.max(f.pollMs, 1000)), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`it answered ${res.status}`);
      const report = Report.safeParse(await res.json().catch(() => null));
      if (!report.success) throw new Error('its answer is not a freshness report ({"tenants":[{"tenant","behindMs"}]})');
      p.known = { at: this.now(), tenants: new Map(report.data.tenants.map((t) => [t.tenant, { behindMs: t.behindMs, pending: t.pending ?? null, loading: t.loading ?? false, appliedThrough: instant(t.appliedThrough) }])) };
      this.events.reported(s.name, p.known.tenants);
      if (p.lost) this.events.found(s.name);
      p.lost = false;
    } catch (err) {
      if (!p.lost) this.events.lost(s.name, reasonOf(err));
      p.lost = true;
    } finally {
      if (!this.stopped && this.pollers.get(s.name) === p) this.schedule(s, p, f.pollMs);
    }
  }
}

/** An ISO time as ms since the epoch; null for none or one that does not parse. */
function instant(iso: string | null | undefined): number | null {
  if (iso === null || iso === undefined) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

function reasonOf(err: unknown): string {
  const e = err as Error & { cause?: { code?: string } };
  if (e.name === 'TimeoutError') return 'no answer in time';
  return e.cause?.code ? `${e.message} (${e.cause.code})` : e.message;
}

const keyOf = (s: CompiledService) => JSON.stringify([s.url, s.freshness]);
