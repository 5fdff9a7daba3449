import { compileRules, differencesOf, instantUs, jsonOf, NUMERIC, type Answer, type Difference, type ParityRules } from './compare';
import { formatPath, generalise, parsePath, type Segment } from './json-path';

/** A parity rule that would turn some of a mismatch's differences into matches, checked by comparing again under it. */
export interface RuleSuggestion {
  readonly rule: 'sets' | 'numericTolerance' | 'timeToleranceMs';
  /** sets: the array's path (indices as [*]). */
  readonly path?: string;
  /** sets: the field that keys an element, or null to pair whole elements. */
  readonly key?: string | null;
  /** numericTolerance, timeToleranceMs: the value. */
  readonly value?: number;
  /** The rule as it is written under the route's `parity:` in the config. */
  readonly text: string;
  /** Why: the kind of difference it explains. */
  readonly why: string;
  /** How many of the differences it resolves. */
  readonly resolves: number;
}

/** Two numbers this close, relatively, differ by representation (float rounding, a decimal's scale), not by value. */
const MAX_RELATIVE = 1e-6;

/**
 * The rules that explain a mismatch, for `parity mismatches` and the
 * offline report: an array whose elements only came in another order
 * (`sets`, keyed by an id when its elements are objects), numbers that differ
 * only by representation (`numericTolerance`), times that differ only by
 * precision once read as instants (`timeToleranceMs`; another zone alone is
 * already equal). Each is proposed only when comparing again under it
 * removes the differences it claims.
 */
export function suggestRules(primary: Answer, candidate: Answer, rules: ParityRules = {}): RuleSuggestion[] {
  const found = differencesOf(primary, candidate, compileRules(rules));
  if (found.length === 0) return [];
  const out: RuleSuggestion[] = [];
  const a = jsonOf(primary);
  const b = jsonOf(candidate);
  if (a !== undefined && b !== undefined) out.push(...suggestSets(found, a, b, primary, candidate, rules));
  const numeric = suggestTolerance(found, primary, candidate, rules);
  if (numeric) out.push(numeric);
  const time = suggestTime(found, primary, candidate, rules);
  if (time) out.push(time);
  return out;
}

/** The one line a terminal shows for a suggestion. */
export function formatSuggestion(s: RuleSuggestion, routeId: string): string {
  return `add to routes[${routeId}].parity: ${s.text}  (${s.why}; resolves ${s.resolves} difference${s.resolves === 1 ? '' : 's'})`;
}

function suggestSets(found: readonly Difference[], a: unknown, b: unknown, primary: Answer, candidate: Answer, rules: ParityRules): RuleSuggestion[] {
  // Every array a difference lies in, deepest first (an inner order is fixed before an outer one is judged).
  const arrays = new Map<string, readonly Segment[]>();
  for (const d of found) {
    const segs = d.path.startsWith('$') ? parsePath(d.path) : null;
    if (!segs) continue;
    segs.forEach((s, i) => {
      if (typeof s === 'number') arrays.set(formatPath(segs.slice(0, i)), segs.slice(0, i));
    });
  }
  const out: RuleSuggestion[] = [];
  const declared = { ...(rules.sets ?? {}) };
  for (const [concrete, segs] of [...arrays].sort((x, y) => y[1].length - x[1].length)) {
    const x = at(a, segs);
    const y = at(b, segs);
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length || x.length < 2) continue;
    const path = generalise(concrete);
    if (path in declared) continue;
    const key = setKey(x, y);
    if (key === undefined) continue;
    const under = (ds: readonly Difference[]) => ds.filter((d) => d.path === concrete || d.path.startsWith(`${concrete}[`)).length;
    // Counted under the sets already proposed: an outer array whose differences an inner set removed needs nothing.
    const before = under(differencesOf(primary, candidate, compileRules({ ...rules, sets: declared })));
    const trial = { ...rules, sets: { ...declared, [path]: key } };
    const after = under(differencesOf(primary, candidate, compileRules(trial)));
    if (before === 0 || after > 0) continue;
    declared[path] = key;
    out.push({ rule: 'sets', path, key, text: `sets: { ${JSON.stringify(path)}: ${key === null ? 'null' : JSON.stringify(key)} }`, why: 'the same elements in another order', resolves: before });
  }
  return out;
}

/** What pairs the elements of two arrays: null for scalars; for objects, an id-like field unique on both sides holding the same values; undefined when nothing does. */
function setKey(x: readonly unknown[], y: readonly unknown[]): string | null | undefined {
  const all = [...x, ...y];
  if (all.every((e) => e === null || typeof e !== 'object')) return null;
  if (!all.every((e) => e !== null && typeof e === 'object' && !Array.isArray(e))) return undefined;
  const fields = Object.keys(x[0] as object);
  const rank = (f: string) => (f === 'id' ? 0 : /(?:_id|Id|ID)$/.test(f) ? 1 : 2);
  for (const f of [...fields].sort((p, q) => rank(p) - rank(q))) {
    const keys = (arr: readonly unknown[]) => arr.map((e) => (e as Record<string, unknown>)[f]);
    const kx = keys(x);
    const ky = keys(y);
    const scalar = (v: unknown) => typeof v === 'string' || typeof v === 'number';
    if (!kx.every(scalar) || !ky.every(scalar)) continue;
    if (new Set(kx).size !== kx.length || new Set(ky).size !== ky.length) continue;
    const sx = new Set(kx);
    if (ky.every((k) => sx.has(k))) return f;
  }
  return undefined;
}

function suggestTolerance(found: readonly Difference[], primary: Answer, candidate: Answer, rules: ParityRules): RuleSuggestion | null {
  let worst = 0;
  let count = 0;
  for (const d of found) {
    if (d.kind !== 'value') continue;
    const p = numberOf(d.primary);
    const c = numberOf(d.candidate);
    if (p === null || c === null || p === c) continue;
    const gap = Math.abs(p - c);
    if (gap > MAX_RELATIVE * Math.max(Math.abs(p), Math.abs(c))) continue;
    worst = Math.max(worst, gap);
    count++;
  }
  if (count === 0) return null;
  const value = Number(`1e${Math.ceil(Math.log10(worst))}`);
  return verified({ rule: 'numericTolerance', value, text: `numericTolerance: ${value}`, why: 'numbers equal but for their representation', resolves: count }, found, primary, candidate, { ...rules, numericTolerance: value });
}

function suggestTime(found: readonly Difference[], primary: Answer, candidate: Answer, rules: ParityRules): RuleSuggestion | null {
  let worstUs = 0;
  let count = 0;
  for (const d of found) {
    if (d.kind !== 'value' || typeof d.primary !== 'string' || typeof d.candidate !== 'string') continue;
    const p = instantUs(d.primary);
    const c = instantUs(d.candidate);
    if (p === null || c === null) continue;
    if (!samePrecisely(d.primary, p, d.candidate, c)) continue;
    worstUs = Math.max(worstUs, Math.abs(p - c));
    count++;
  }
  if (count === 0) return null;
  const value = Math.max(1, Math.ceil(worstUs / 1000));
  return verified({ rule: 'timeToleranceMs', value, text: `timeToleranceMs: ${value}`, why: 'the same instant written at another precision or zone', resolves: count }, found, primary, candidate, { ...rules, timeToleranceMs: value });
}

/** The suggestion, with how many differences comparing again under `trial` really removes; null when none. */
function verified(s: RuleSuggestion, found: readonly Difference[], primary: Answer, candidate: Answer, trial: ParityRules): RuleSuggestion | null {
  const resolves = found.length - differencesOf(primary, candidate, compileRules(trial)).length;
  return resolves > 0 ? { ...s, resolves } : null;
}

/**
 * Two instants that are one once the more precise is cut (or rounded) to the
 * other's precision: `10:00:00.123456Z` and `10:00:00.123Z`, `10:00:00.5Z`
 * and `11:00:00+01:00`. Two times 86 ms apart at the same precision are two
 * times, not one written twice.
 */
function samePrecisely(a: string, aUs: number, b: string, bUs: number): boolean {
  const digits = Math.min(fractionDigits(a), fractionDigits(b), 6);
  const unit = 10 ** (6 - digits);
  return Math.floor(aUs / unit) === Math.floor(bUs / unit) || Math.round(aUs / unit) === Math.round(bUs / unit);
}

function fractionDigits(s: string): number {
  return /[T ]\d{2}:\d{2}:\d{2}\.(\d+)/.exec(s)?.[1]?.length ?? 0;
}

function numberOf(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
  return null;
}

function at(v: unknown, segs: readonly Segment[]): unknown {
  let cur = v;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}
