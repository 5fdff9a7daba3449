import type { ModeSetting } from '../config/schema';

/**
 * "Where does this request go": one pure decision, taken once per request
 * from plain facts, returning a plan that the data plane only carries out
 * (as Envoy's route action, and Vitess's switch checks, are decisions apart
 * from the code that acts on them). Tested as a table in decide.test.ts.
 */

/** Why a shadow copy was not sent (each counted in strangler_proxy_shadow_total). */
export type ShadowSkip = 'skipped_write' | 'skipped_sample' | 'skipped_behind' | 'skipped_unapplied_write' | 'dropped_queue_full' | 'dropped_buffer_full' | 'skipped_shadow_failing' | 'skipped_thread_down';

/** Why a request for the service went to the monolith before anything was sent (strangler_proxy_fallbacks_total). */
export type HeldBack = 'behind' | 'unapplied_write';

export type Plan =
  /** To the monolith, as in monolith mode. */
  | { readonly to: 'monolith' }
  /** To the monolith, then a copy to the service once the client has its answer. */
  | { readonly to: 'monolith'; readonly copy: true }
  /** To the monolith; the copy it would have had is skipped, for this reason. */
  | { readonly to: 'monolith'; readonly skipped: ShadowSkip }
  /** A read for the service held back: the monolith answers (not a failure of the service; gates do not count it). */
  | { readonly to: 'monolith'; readonly heldBack: HeldBack }
  /** To the service, behind its breaker, with fallback where safe. */
  | { readonly to: 'service' }
  /** To the service, which owns the domain's writes for the tenant: a write never falls back to the monolith. */
  | { readonly to: 'service'; readonly owner: true }
  /** A write to a domain being handed over: held until the hand-over flips (or ends), then decided again. */
  | { readonly to: 'hold' };

/** The facts a decision needs. Those that cost a lookup are functions, asked only on the paths that need them. */
export interface Facts {
  readonly method: string;
  /**
   * The route belongs to a domain (domains.<d>.routes), and who owns the
   * domain's writes for the tenant: null outside domains.
   */
  readonly owner: 'monolith' | 'service' | null;
  /** A hand-over of the route's domain for the tenant holds its writes now. */
  readonly holding: () => boolean;
  /** The route's mode for the tenant; null when no route matched or it names no service. */
  readonly setting: ModeSetting | null;
  /** canary only: whether this request's sticky key falls in the share. */
  readonly inCanary: () => boolean;
  /** Whether the route copies this request at all: a read, or a write with a dry-run contract. */
  readonly mirrorable: boolean;
  /** The route's share of mirrorable requests copied. */
  readonly sampleRate: number;
  /** A uniform draw in [0, 1) for the sample. */
  readonly draw: () => number;
  /** The service declares freshness (only then can it be behind, or say what it applied). */
  readonly freshness: boolean;
  /** The service is too far behind the tenant's changes (or loading it, or not reporting it). */
  readonly behind: () => boolean;
  /** This client wrote less than the window ago, and the service has not said it applied that write. */
  readonly writeUnapplied: () => boolean;
  /** Whether the shadow thread would take a copy now ('yes'), or why not. */
  readonly admits: () => 'yes' | ShadowSkip;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export const MONOLITH: Plan = Object.freeze({ to: 'monolith' });
const SERVICE: Plan = Object.freeze({ to: 'service' });
const OWNER: Plan = Object.freeze({ to: 'service', owner: true });
const HOLD: Plan = Object.freeze({ to: 'hold' });
const COPY: Plan = Object.freeze({ to: 'monolith', copy: true });
const plans = new Map<string, Plan>();
const frozen = (key: 'skipped' | 'heldBack', why: string): Plan => {
  const k = `${key}:${why}`;
  let p = plans.get(k);
  if (!p) {
    p = Object.freeze({ to: 'monolith', [key]: why } as Plan);
    plans.set(k, p);
  }
  return p;
};

/** The plan for one request (plans are shared frozen objects: deciding allocates nothing). */
export function decide(f: Facts): Plan {
  if (f.owner !== null) {
    // Write ownership comes before modes: a write waits out a hand-over, and the owner takes the domain's writes.
    if (!SAFE.has(f.method) && f.holding()) return HOLD;
    // The service owns the truth: its reads and writes go there, never held back for freshness (the monolith is the one behind).
    if (f.owner === 'service') return OWNER;
  }
  const s = f.setting;
  if (s === null || s.mode === 'monolith') return MONOLITH;
  if (s.mode === 'extracted' || (s.mode === 'canary' && f.inCanary())) {
    // The monolith owns the domain's writes: a read may go to the service, a write goes to the owner.
    if (f.owner === 'monolith' && !SAFE.has(f.method)) return MONOLITH;
    // Reads only: a write must reach whoever owns the data, and a read-your-writes mark says nothing of writes.
    if (f.freshness && SAFE.has(f.method)) {
      if (f.behind()) return frozen('heldBack', 'behind');
      if (f.writeUnapplied()) return frozen('heldBack', 'unapplied_write');
    }
    return SERVICE;
  }
  if (s.mode !== 'shadow') return MONOLITH;
  // A write is copied only to a service that rolls it back (a dry-run contract).
  if (!f.mirrorable) return frozen('skipped', 'skipped_write');
  if (f.sampleRate < 1 && !(f.draw() < f.sampleRate)) return frozen('skipped', 'skipped_sample');
  // A service behind its change streams, or without this client's own write, would answer from old state: not a mismatch.
  if (f.freshness && f.behind()) return frozen('skipped', 'skipped_behind');
  if (f.freshness && SAFE.has(f.method) && f.writeUnapplied()) return frozen('skipped', 'skipped_unapplied_write');
  const admitted = f.admits();
  return admitted === 'yes' ? COPY : frozen('skipped', admitted);
}
