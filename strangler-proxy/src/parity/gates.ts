import type { ModeSetting, RouteConfig } from '../config/schema';
import { effectiveMode, formatSetting, type ModeOverrides } from '../routes/modes';
import type { CompiledRoute } from '../routes/table';
import type { ParityStats } from './shadow-parity';
import { WINDOW_SECONDS } from './window';

export type GateRules = NonNullable<RouteConfig['gate']>;

/** Operator switches: every gate paused, or single routes (`route`) or route-tenants (`route:tenant`) frozen. */
export interface GateControls {
  readonly paused: boolean;
  readonly frozen: ReadonlySet<string>;
}

export interface GateMove {
  readonly routeId: string;
  readonly tenant: string;
  readonly from: ModeSetting;
  readonly to: ModeSetting;
  readonly kind: 'promote' | 'rollback';
  /** The figures that triggered it, as written to the audit log. */
  readonly reason: string;
}

export interface GateDeps {
  readonly routes: () => readonly CompiledRoute[];
  readonly tenants: () => readonly string[];
  readonly overrides: () => ModeOverrides;
  readonly stats: (route: string, tenant: string, windowMs: number, sinceMs: number) => ParityStats;
  readonly controls: () => Promise<GateControls>;
  /** Writes the move unless the tenant's stored setting is no longer `expected`; false when it was not written. */
  readonly move: (m: GateMove, expected: ModeSetting | null) => Promise<boolean>;
  readonly now?: () => number;
}

const pct = (r: number) => `${(r * 100).toFixed(1)} %`;

/**
 * Promotes a route for a tenant from shadow through canary steps to
 * extracted while parity holds, and sends it back to the monolith at once
 * when mismatches or errors spike. Figures count only since the tenant's
 * current setting began (a move starts a fresh count). Each replica judges
 * by the counts of every replica on the control store (ParityExchange); a
 * move is conditional on the stored setting, so two replicas never move one
 * route twice.
 */
export class GateEvaluator {
  private readonly since = new Map<string, { setting: string; at: number }>();
  private readonly now: () => number;

  constructor(private readonly deps: GateDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** One evaluation of every gated route and tenant; returns the moves written. */
  async tick(): Promise<GateMove[]> {
    const gated = this.deps.routes().filter((r) => r.gate !== null && r.service !== null);
    if (gated.length === 0) return [];
    const controls = await this.deps.controls();
    const overrides = this.deps.overrides();
    const moves: GateMove[] = [];
    for (const route of gated) {
      for (const tenant of this.deps.tenants()) {
        const setting = effectiveMode(route, tenant, overrides);
        const key = `${route.id}\u0000${tenant}`;
        const seen = this.since.get(key);
        const text = formatSetting(setting);
        if (!seen || seen.setting !== text) this.since.set(key, { setting: text, at: this.now() });
        if (controls.paused || controls.frozen.has(route.id) || controls.frozen.has(`${route.id}:${tenant}`)) continue;
        const move = this.decide(route, tenant, setting, this.since.get(key)!.at);
        if (!move) continue;
        const stored = overrides.get(route.id)?.get(tenant) ?? null;
        if (await this.deps.move(move, stored)) {
          moves.push(move);
          this.since.set(key, { setting: formatSetting(move.to), at: this.now() });
        }
      }
    }
    return moves;
  }

  private decide(route: CompiledRoute, tenant: string, setting: ModeSetting, since: number): GateMove | null {
    const g = route.gate!;
    const mk = (to: ModeSetting, kind: GateMove['kind'], reason: string): GateMove => ({ routeId: route.id, tenant, from: setting, to, kind, reason: `gate ${kind}: ${reason}` });
    if (setting.mode === 'monolith') return null;

    // Rollback first: a spike over the rollback window sends the tenant back at once.
    const w = this.deps.stats(route.id, tenant, g.rollback.windowMs, since);
    if (setting.mode === 'shadow') {
      if (w.samples >= g.rollback.minSamples && w.mismatchRate > g.rollback.maxMismatchRate) {
        return mk({ mode: 'monolith' }, 'rollback', `mismatch rate ${pct(w.mismatchRate)} > ${pct(g.rollback.maxMismatchRate)} over ${w.samples} shadow comparisons in ${g.rollback.windowMs / 1000} s`);
      }
      const attempts = w.samples + w.shadowErrors;
      if (attempts >= g.rollback.minSamples && w.shadowErrorRate > g.rollback.maxErrorRate) {
        return mk({ mode: 'monolith' }, 'rollback', `extracted error rate ${pct(w.shadowErrorRate)} > ${pct(g.rollback.maxErrorRate)} over ${attempts} shadow copies in ${g.rollback.windowMs / 1000} s`);
      }
    } else if (w.served >= g.rollback.minSamples && w.servedErrorRate > g.rollback.maxErrorRate) {
      return mk({ mode: 'monolith' }, 'rollback', `extracted error rate ${pct(w.servedErrorRate)} > ${pct(g.rollback.maxErrorRate)} over ${w.served} requests it served in ${g.rollback.windowMs / 1000} s`);
    }

    // Promotion: enough clean evidence since the current setting began.
    const all = this.deps.stats(route.id, tenant, WINDOW_SECONDS * 1000, since);
    // Sticky by tenant puts a whole tenant on one side of any canary: per-tenant steps would prove nothing.
    const steps = route.stickyBy === 'tenant' ? [] : [...g.promote.canarySteps].sort((a, b) => a - b);
    const next = (after: number): ModeSetting => {
      const p = steps.find((s) => s > after);
      return p === undefined ? { mode: 'extracted' } : { mode: 'canary', percent: p };
    };
    if (setting.mode === 'shadow') {
      // Evidence is what was compared whole: a comparison that matched only by leaving learned noise out is
      // neither counted towards minSamples nor allowed past maxFilteredShare.
      const whole = all.samples - all.noiseFiltered;
      if (whole >= g.promote.minSamples && all.mismatchRate <= g.promote.maxMismatchRate && all.shadowErrorRate <= g.promote.maxErrorRate && all.filteredShare <= g.promote.maxFilteredShare) {
        const skipped = route.stickyBy === 'tenant' && g.promote.canarySteps.length > 0 ? '; canary steps skipped: the route is sticky by tenant' : '';
        return mk(
          next(0),
          'promote',
          `${all.samples} shadow comparisons (${all.matched} matched, ${all.noiseFiltered} filtered by learned noise, ${all.mismatches} mismatched), mismatch rate ${pct(all.mismatchRate)} <= ${pct(g.promote.maxMismatchRate)}, filtered ${pct(all.filteredShare)} <= ${pct(g.promote.maxFilteredShare)}, extracted error rate ${pct(all.shadowErrorRate)} <= ${pct(g.promote.maxErrorRate)}${skipped}`,
        );
      }
    } else if (setting.mode === 'canary') {
      if (all.served >= g.promote.minSamples && all.servedErrorRate <= g.promote.maxErrorRate) {
        return mk(next(setting.percent ?? 0), 'promote', `canary ${setting.percent} %: ${all.served} requests served by the extracted service, error rate ${pct(all.servedErrorRate)} <= ${pct(g.promote.maxErrorRate)}`);
      }
    }
    return null;
  }
}
