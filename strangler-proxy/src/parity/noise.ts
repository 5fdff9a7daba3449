import { differencesOf, type Answer, type CompiledRules, type Difference } from './compare';
import { formatSegment, generalise } from './json-path';

/**
 * When a path the monolith disagrees with itself on counts as noise. The
 * defaults follow Diffy's two thresholds (a relative one, and a floor of
 * evidence): a path is noise when it differed in at least 20 % of at least
 * 10 pairs of monolith answers taken while the data did not change, over the
 * route's newest 100 such pairs, none older than an hour. A racing write the
 * change checks missed is one pair in many and stays under the bar; a
 * request id or a server clock differs in every pair and passes it at once.
 */
export interface NoiseSettings {
  /** Unchanged-data pairs a route needs before any of its paths can be noise. @default 10 */
  readonly minPairs: number;
  /** Share of those pairs a path must have differed in (0-1). @default 0.2 */
  readonly minShare: number;
  /** The newest pairs a route's rates are taken over: a path that stops differing falls under the bar as they pass. @default 100 */
  readonly windowPairs: number;
  /** A pair older than this no longer counts: a route that is quiet forgets its noise. @default 3600000 */
  readonly maxAgeMs: number;
}

export const NOISE_DEFAULTS: NoiseSettings = Object.freeze({ minPairs: 10, minShare: 0.2, windowPairs: 100, maxAgeMs: 3_600_000 });

/**
 * Why a pair of monolith answers taught nothing: the data changed between
 * the two asks (`data_changed`: the tenant's position moved, by a write the
 * proxy forwarded or the database's own), or their difference says so
 * (`status_changed`, `elements_changed`: an array gained or lost elements,
 * `ids_changed`: an element's id is in one answer only).
 */
export const DISCARD_REASONS = ['data_changed', 'status_changed', 'elements_changed', 'ids_changed'] as const;
export type DiscardReason = (typeof DISCARD_REASONS)[number];

export interface LearnedNoise {
  /** A generalised path (indices as [*]) where the monolith disagreed with itself. */
  readonly path: string;
  /** In how many of the route's counted pairs the two monolith answers differed there. */
  readonly seen: number;
  /** Out of how many unchanged-data pairs (the window). */
  readonly samples: number;
  /** seen / samples. */
  readonly rate: number;
  /** Whether it met the bar (minShare of at least minPairs): only then is it left out of comparisons. */
  readonly noise: boolean;
  /** The newest example of the two monolith values. */
  readonly example: readonly [unknown, unknown];
}

/** What a route has learned: its paths, and the pairs it took and threw away. */
export interface RouteNoise {
  readonly route: string;
  /** Unchanged-data pairs in the window. */
  readonly pairs: number;
  /** Pairs discarded since the start, by reason. */
  readonly discarded: Readonly<Record<DiscardReason, number>>;
  readonly learned: readonly LearnedNoise[];
}

export type PairVerdict = { readonly learned: true; readonly paths: readonly string[] } | { readonly learned: false; readonly reason: DiscardReason };

/** Bounds on memory: a body keyed by random ids must not grow the model without end. */
const MAX_PATHS_PER_PAIR = 200;
const MAX_PATHS_PER_ROUTE = 500;

interface PathState {
  seen: number;
  example: readonly [unknown, unknown];
}

interface RouteState {
  readonly pairs: Array<{ readonly at: number; readonly paths: readonly string[] }>;
  readonly paths: Map<string, PathState>;
  readonly discarded: Record<DiscardReason, number>;
}

/**
 * Noise learned per route template, as Diffy does, but only from evidence:
 * the monolith is asked twice, and a path where its own answers differ is
 * noise once it has differed in enough pairs taken while the tenant's data
 * did not change (pairs across a change are discarded and counted, never
 * learned). A learned path covers itself only: a whole array element or
 * object is noise only when the path and every field below it met the bar.
 */
export class NoiseModel {
  private readonly routes = new Map<string, RouteState>();
  private readonly settings: NoiseSettings;

  constructor(
    settings: Partial<NoiseSettings> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.settings = { ...NOISE_DEFAULTS, ...settings };
  }

  /**
   * Learns from two answers of the monolith to the same request, unless
   * `changed` (the caller saw the tenant's data move between the asks) or
   * their difference is explained by a change.
   */
  learn(route: string, first: Answer, second: Answer, rules: CompiledRules, changed: boolean): PairVerdict {
    const r = this.route(route);
    const diffs = changed ? [] : differencesOf(first, second, rules);
    const reason = changed ? 'data_changed' : explainedByChange(diffs);
    if (reason) {
      r.discarded[reason]++;
      return { learned: false, reason };
    }
    const paths = new Map<string, readonly [unknown, unknown]>();
    for (const d of diffs) {
      if (paths.size >= MAX_PATHS_PER_PAIR) break;
      paths.set(generalise(d.path), [d.primary, d.candidate]);
      for (const leaf of leavesOf(d)) if (paths.size < MAX_PATHS_PER_PAIR) paths.set(leaf, [d.primary, d.candidate]);
    }
    this.expire(r);
    const kept: string[] = [];
    for (const [path, example] of paths) {
      const known = r.paths.get(path);
      if (known) {
        known.seen++;
        known.example = example;
      } else if (r.paths.size < MAX_PATHS_PER_ROUTE) r.paths.set(path, { seen: 1, example });
      else continue;
      kept.push(path);
    }
    r.pairs.push({ at: this.now(), paths: kept });
    while (r.pairs.length > this.settings.windowPairs) this.drop(r);
    return { learned: true, paths: kept };
  }

  /** The predicate compareAnswers takes, for one route: the noise as of now. */
  predicate(route: string): (d: Difference) => boolean {
    const r = this.routes.get(route);
    if (!r) return () => false;
    this.expire(r);
    const noisy = this.noisy(r);
    if (noisy.size === 0) return () => false;
    return (d) => {
      if (d.kind === 'status' || !noisy.has(generalise(d.path))) return false;
      for (const leaf of leavesOf(d)) if (!noisy.has(leaf)) return false;
      return true;
    };
  }

  /** Every path seen differing in the window, noise or not, with its rate. */
  learned(route: string): LearnedNoise[] {
    const r = this.routes.get(route);
    if (!r) return [];
    this.expire(r);
    const samples = r.pairs.length;
    const noisy = this.noisy(r);
    return [...r.paths]
      .map(([path, v]) => ({ path, seen: v.seen, samples, rate: samples === 0 ? 0 : v.seen / samples, noise: noisy.has(path), example: v.example }))
      .sort((a, b) => a.path.localeCompare(b.path));
  }

  summary(route: string): RouteNoise {
    const learned = this.learned(route);
    const r = this.routes.get(route);
    return { route, pairs: r?.pairs.length ?? 0, discarded: { ...(r?.discarded ?? emptyDiscards()) }, learned };
  }

  routesLearned(): string[] {
    return [...this.routes.keys()];
  }

  private route(route: string): RouteState {
    let r = this.routes.get(route);
    if (!r) {
      r = { pairs: [], paths: new Map(), discarded: emptyDiscards() };
      this.routes.set(route, r);
    }
    return r;
  }

  private noisy(r: RouteState): Set<string> {
    const out = new Set<string>();
    const n = r.pairs.length;
    if (n < this.settings.minPairs) return out;
    for (const [path, v] of r.paths) if (v.seen / n >= this.settings.minShare) out.add(path);
    return out;
  }

  private expire(r: RouteState): void {
    const oldest = this.now() - this.settings.maxAgeMs;
    while (r.pairs.length > 0 && r.pairs[0]!.at < oldest) this.drop(r);
  }

  private drop(r: RouteState): void {
    const gone = r.pairs.shift();
    if (!gone) return;
    for (const p of gone.paths) {
      const s = r.paths.get(p);
      if (s && --s.seen <= 0) r.paths.delete(p);
    }
  }
}

function emptyDiscards(): Record<DiscardReason, number> {
  return { data_changed: 0, status_changed: 0, elements_changed: 0, ids_changed: 0 };
}

/** An element's identity, by name: `id`, `uuid`, or a name ending in `_id`, `Id` or `ID`. */
const ID_FIELD = /^(?:id|uuid|_id)$|_id$|[a-z]Id$|ID$/;
const AT_ELEMENT = /\[\d+\]$/;
const IN_ELEMENT = /\[\d+\]/;

/**
 * Whether two monolith answers differ as a change of the data makes them
 * differ, whatever the position said: a status that changed (a row created
 * or deleted), an array that gained or lost elements, an element whose id is
 * in one answer only (a list whose rows moved). Such a pair is never noise.
 */
export function explainedByChange(diffs: readonly Difference[]): DiscardReason | null {
  for (const d of diffs) {
    if (d.kind === 'status') return 'status_changed';
    if ((d.kind === 'missing' || d.kind === 'extra') && AT_ELEMENT.test(d.path)) return 'elements_changed';
  }
  for (const d of diffs) {
    if (d.kind !== 'value' && d.kind !== 'type') continue;
    const last = lastKey(d.path);
    if (last !== null && ID_FIELD.test(last) && IN_ELEMENT.test(d.path)) return 'ids_changed';
  }
  return null;
}

function lastKey(path: string): string | null {
  const m = /(?:\.([A-Za-z_$][A-Za-z0-9_$-]*)|\["((?:[^"\\]|\\.)*)"\])$/.exec(path);
  return m ? (m[1] ?? JSON.parse(`"${m[2]!}"`)) : null;
}

/**
 * The generalised paths of every field under a difference whose value is an
 * object or an array (either side), empty for a scalar: what must each be
 * noise before the whole value is.
 */
function leavesOf(d: Difference): string[] {
  if (!d.path.startsWith('$')) return [];
  const out = new Set<string>();
  const base = generalise(d.path);
  for (const v of [d.primary, d.candidate]) if (v !== null && typeof v === 'object') collect(v, base, out, 0);
  return [...out];
}

function collect(v: unknown, at: string, out: Set<string>, depth: number): void {
  if (out.size >= MAX_PATHS_PER_PAIR || depth > 32) return;
  if (Array.isArray(v)) {
    if (v.length === 0) out.add(at);
    for (const e of v) collect(e, `${at}[*]`, out, depth + 1);
    return;
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 0) out.add(at);
    for (const k of keys) collect((v as Record<string, unknown>)[k], `${at}${formatSegment(k)}`, out, depth + 1);
    return;
  }
  if (at.length > 0) out.add(at);
}
