import type { ShadowExchange, ShadowSink } from '../shadow/exchange';
import type { CompiledRules } from './compare';
import { compareAnswers, type Difference } from './compare';
import { NoiseModel } from './noise';
import type { Redactor } from './redact';
import { rates, SlidingCounts, type Counts } from './window';

/** A sampled mismatch as the control store keeps it. */
export interface MismatchRecord {
  readonly routeId: string;
  readonly tenant: string;
  readonly request: { readonly method: string; readonly path: string; readonly headers: Readonly<Record<string, string>>; readonly body: string | null };
  readonly primary: { readonly status: number; readonly body: string; readonly ms: number };
  readonly shadow: { readonly status: number; readonly body: string; readonly ms: number };
  readonly differences: readonly Difference[];
}

export interface MismatchStore {
  recordMismatch(m: MismatchRecord): Promise<void>;
}

export interface ShadowParityOptions {
  /** The current rules of a route (null when the route is gone). */
  readonly rulesOf: (routeId: string) => CompiledRules | null;
  readonly redactor: () => Redactor;
  readonly store?: MismatchStore;
  readonly mismatchesPerMinute: () => number;
  readonly onMismatchStoreError?: (err: unknown) => void;
  readonly now?: () => number;
}

export interface ParityStats extends Counts {
  readonly route: string;
  readonly tenant: string;
  readonly windowMs: number;
  readonly mismatchRate: number;
  readonly shadowErrorRate: number;
  readonly servedErrorRate: number;
  readonly primaryMsAvg: number;
  readonly shadowMsAvg: number;
}

const BODY_CAP = 64 * 1024;

/**
 * Shadow parity in flight: every finished shadow exchange is compared by the
 * same engine as the offline runner, off the request path (the mirror calls
 * it after the client has its answer). Noise is learned from the sampled
 * second monolith answers. Counts go into sliding windows per route and
 * tenant; mismatches are sampled, redacted, into the control store.
 */
export class ShadowParity implements ShadowSink {
  private readonly windows = new Map<string, SlidingCounts>();
  private readonly noise = new NoiseModel();
  private readonly budget = new Map<string, { minute: number; used: number }>();
  private readonly now: () => number;

  constructor(private readonly o: ShadowParityOptions) {
    this.now = o.now ?? Date.now;
  }

  record(e: ShadowExchange): void {
    const rules = this.o.rulesOf(e.route);
    if (!rules) return;
    const window = this.window(e.route, e.tenant);
    if (e.primaryAgain) this.noise.learn(e.route, e.primary, e.primaryAgain, rules);
    const primaryError = e.primary.status >= 500 ? 1 : 0;
    if ('error' in e.shadow || e.shadow.status >= 500) {
      window.add({ shadowErrors: 1, primaryErrors: primaryError });
      return;
    }
    // A cut body cannot be compared fairly: counted as an error of the copy, never as a mismatch.
    if (e.primary.truncated || e.shadow.truncated) {
      window.add({ shadowErrors: 1 });
      return;
    }
    const c = compareAnswers(e.primary, e.shadow, rules, this.noise.predicate(e.route));
    window.add({ samples: 1, mismatches: c.match ? 0 : 1, noiseFiltered: c.match && c.noise.length > 0 ? 1 : 0, primaryErrors: primaryError, primaryMs: e.primary.ms, shadowMs: e.shadow.ms });
    if (!c.match && this.o.store && this.takeBudget(e.route, e.tenant)) {
      const r = this.o.redactor();
      const text = (b: Buffer | null) => {
        const s = r.body(b)?.toString('utf8') ?? '';
        return s.length > BODY_CAP ? `${s.slice(0, BODY_CAP)}…` : s;
      };
      this.o.store
        .recordMismatch({
          routeId: e.route,
          tenant: e.tenant,
          request: { method: e.request.method, path: e.request.path, headers: r.headers(e.request.headers) as Record<string, string>, body: e.request.body ? text(e.request.body) : null },
          primary: { status: e.primary.status, body: text(e.primary.body), ms: e.primary.ms },
          shadow: { status: e.shadow.status, body: text(e.shadow.body), ms: e.shadow.ms },
          differences: c.differences.slice(0, 100),
        })
        .catch((err: unknown) => this.o.onMismatchStoreError?.(err));
    }
  }

  /** Requests served on a route (gates count the extracted service's answers and failures). */
  served(route: string, tenant: string, servedBy: string, status: number): void {
    if (servedBy !== 'extracted') return;
    this.window(route, tenant).add({ served: 1, servedErrors: status >= 500 ? 1 : 0 });
  }

  stats(route: string, tenant: string, windowMs: number, sinceMs = 0): ParityStats {
    const c = this.windows.get(`${route}\u0000${tenant}`)?.sum(windowMs, sinceMs) ?? new SlidingCounts(this.now).sum(windowMs);
    return { route, tenant, windowMs, ...c, ...rates(c) };
  }

  /** Every route and tenant seen, over one window. */
  all(windowMs: number): ParityStats[] {
    return [...this.windows.keys()].map((k) => {
      const [route, tenant] = k.split('\u0000') as [string, string];
      return this.stats(route, tenant, windowMs);
    });
  }

  learnedNoise(route: string) {
    return this.noise.learned(route);
  }

  private window(route: string, tenant: string): SlidingCounts {
    const key = `${route}\u0000${tenant}`;
    let w = this.windows.get(key);
    if (!w) {
      w = new SlidingCounts(this.now);
      this.windows.set(key, w);
    }
    return w;
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
