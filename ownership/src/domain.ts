/** A domain as the hand-over needs it (the proxy's config compiles `domains.<name>` into this). */
export interface DomainSpec {
  readonly name: string;
  /** The extracted service that takes the domain. */
  readonly service: string;
  /** The tables it owns, `schema.table` (the same names in the monolith's and the service's databases). */
  readonly tables: readonly string[];
  /** The ids of the proxy's routes that read and write it. */
  readonly routes: readonly string[];
  /** What the monolith's database does with a write to an owned table outside the domain's routes. */
  readonly fence: 'detect' | 'enforce';
  readonly hold: {
    /** Writes held per tenant during a hand-over; past it, 503 with Retry-After. */
    readonly maxQueued: number;
    /** How long a hand-over may hold writes; past it, it goes back to the old owner and held writes get 503 with Retry-After. */
    readonly maxMs: number;
  };
  readonly timeouts: {
    /** Writes in flight through the proxies to finish. */
    readonly drainMs: number;
    /** The new owner to apply everything up to the fence. */
    readonly catchUpMs: number;
    /** The rollback guard's probe through back-sync. */
    readonly guardMs: number;
  };
  /** Shadow parity of the domain's write routes (dry runs) asked of a hand-over to the service: comparisons per route, none mismatched. 0 asks none. */
  readonly parityMinSamples: number;
}

export type Owner = 'monolith' | 'service';

/** The steps of a hand-over, in order, each direction. */
export const STEPS = {
  service: ['preflight', 'hold', 'drain', 'fence', 'catch_up', 'sequences', 'grant', 'flip', 'fence_writes', 'release'],
  monolith: ['preflight', 'hold', 'drain', 'revoke', 'catch_up', 'sequences', 'unfence', 'flip', 'release'],
} as const satisfies Record<Owner, readonly string[]>;

export type Step = (typeof STEPS)[Owner][number];

/** The steps a proxy holds the domain's writes through (from hold to the flip, both included). */
export function holds(step: string): boolean {
  return HOLDING.has(step);
}
const HOLDING = new Set(['hold', 'drain', 'fence', 'revoke', 'catch_up', 'sequences', 'grant', 'unfence', 'flip']);

/**
 * What undoing a hand-over stopped before its flip takes, newest first: the
 * steps that changed something outside the control store. Past the flip
 * nothing is undone: the new owner owns, and the rest goes forward.
 */
export function undoPlan(to: Owner, done: readonly string[]): Array<'revoke_grant' | 'regrant' | 'refence'> {
  const plan: Array<'revoke_grant' | 'regrant' | 'refence'> = [];
  if (done.includes('flip')) return plan;
  if (to === 'service' && done.includes('grant')) plan.push('revoke_grant');
  if (to === 'monolith') {
    if (done.includes('unfence')) plan.push('refence');
    if (done.includes('revoke')) plan.push('regrant');
  }
  return plan;
}
