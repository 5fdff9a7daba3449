import type { ShadowExchange } from '../shadow/exchange';
import type { CompiledRules, Difference } from './compare';
import { compareAnswers } from './compare';
import { NoiseModel, type NoiseSettings, type RouteNoise } from './noise';
import type { Redactor } from './redact';
import type { Counts } from './window';

/** A sampled mismatch as the control store keeps it. */
export interface MismatchRecord {
  readonly routeId: string;
  readonly tenant: string;
  readonly request: { readonly method: string; readonly path: string; readonly headers: Readonly<Record<string, string>>; readonly body: string | null };
  readonly primary: { readonly status: number; readonly body: string; readonly ms: number };
  readonly shadow: { readonly status: number; readonly body: string; readonly ms: number };
  readonly differences: readonly Difference[];
}

export interface JudgeOptions {
  /** The current rules of a route (null when the route is gone). */
  readonly rulesOf: (routeId: string) => CompiledRules | null;
  readonly redactor: () => Redactor;
  readonly mismatchesPerMinute: () => number;
  readonly noise?: Partial<NoiseSettings>;
  readonly now?: () => number;
}

export interface Verdict {
  /** What the exchange adds to its route and tenant's windows; null when the route has no rules any more. */
  readonly counts: Partial<Counts> | null;
  /** A mismatch within the per-minute budget, redacted, for the control store. */
  readonly mismatch?: MismatchRecord;
}

const BODY_CAP = 64 * 1024;

/**
 * Shadow parity's comparison of one finished exchange, by the same engine as
 * the offline runner: noise learned from the sampled pairs of monolith
 * answers (those across a change of the data discarded), the route's rules, and a redacted sample of the mismatches
 * (at most `mismatchesPerMinute` per route and tenant). Runs in the shadow
 * thread, never on the request path.
 */
export class ParityJudge {
  private noise: NoiseModel;
  private noiseSettings: string;
  private readonly budget = new Map<string, { minute: number; used: number }>();
  private readonly now: () => number;

  constructor(private readonly o: JudgeOptions) {
    this.now = o.now ?? Date.now;
    this.noiseSettings = JSON.stringify(o.noise ?? {});
    this.noise = new NoiseModel(o.noise, this.now);
  }

  /** New noise settings start learning afresh: rates taken under other bars mean nothing under these. */
  setNoise(settings: Partial<NoiseSettings>): void {
    const text = JSON.stringify(settings);
    if (text === this.noiseSettings) return;
    this.noiseSettings = text;
    this.noise = new NoiseModel(settings, this.now);
  }

  judge(e: ShadowExchange): Verdict {
    const rules = this.o.rulesOf(e.route);
    if (!rules) return { counts: null };
    const pair = e.noisePair && !e.noisePair.first.truncated && !e.noisePair.second.truncated ? e.noisePair : undefined;
    const discarded = pair && !this.noise.learn(e.route, pair.first, pair.second, rules, pair.changed).learned ? { noiseDiscarded: 1 } : {};
    const primaryErrors = e.primary.status >= 500 ? 1 : 0;
    if ('error' in e.shadow || e.shadow.status >= 500) return { counts: { shadowErrors: 1, primaryErrors, ...discarded } };
    // A cut body cannot be compared fairly: counted as an error of the copy, never as a mismatch.
    if (e.primary.truncated || e.shadow.truncated) return { counts: { shadowErrors: 1, ...discarded } };
    const c = compareAnswers(e.primary, e.shadow, rules, this.noise.predicate(e.route));
    // Differences all on learned noise: filtered, which gates bound apart; never a match.
    const counts = { samples: 1, mismatches: c.match ? 0 : 1, noiseFiltered: c.match && c.noise.length > 0 ? 1 : 0, primaryErrors, primaryMs: e.primary.ms, shadowMs: e.shadow.ms, ...discarded };
    if (c.match || !this.takeBudget(e.route, e.tenant)) return { counts };
    const r = this.o.redactor();
    const text = (b: Buffer | null, headers: Readonly<Record<string, string | string[]>>) => {
      const s = r.body(b, headers['content-encoding'])?.toString('utf8') ?? '';
      return s.length > BODY_CAP ? `${s.slice(0, BODY_CAP)}…` : s;
    };
    return {
      counts,
      mismatch: {
        routeId: e.route,
        tenant: e.tenant,
        request: { method: e.request.method, path: e.request.path, headers: r.headers(e.request.headers) as Record<string, string>, body: e.request.body ? text(e.request.body, e.request.headers) : null },
        primary: { status: e.primary.status, body: text(e.primary.body, e.primary.headers), ms: e.primary.ms },
        shadow: { status: e.shadow.status, body: text(e.shadow.body, e.shadow.headers), ms: e.shadow.ms },
        differences: c.differences.slice(0, 100),
      },
    };
  }

  learnedNoise(route: string): RouteNoise {
    return this.noise.summary(route);
  }

  private takeBudget(route: string, tenant: string): boolean {
    const key = `${route}\u0000${tenant}`;
    const minute = Math.floor(this.now() / 60_000);
    const b = this.budget.get(key);
    if (!b || b.minute !== minute) {
      this.budget.set(key, { minute, used: 1 });
      return this.o.mismatchesPerMinute() > 0;
    }
    if (b.used >= this.o.mismatchesPerMinute()) return false;
    b.used++;
    return true;
  }
}
