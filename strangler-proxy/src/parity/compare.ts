import { decodeContent } from './content-coding';
import { anyPath, compilePath, compileSegments, formatPath, type Segment } from './json-path';

/** What two answers are compared under. Every field is optional; the defaults compare strictly. */
export interface ParityRules {
  /** Response headers compared (lower case). @default ['content-type'] */
  readonly headers?: readonly string[];
  /** JSON paths never compared (and everything below them): `$.meta.request_id`, `$.items[*].etag`, `$..updated_at`. */
  readonly ignore?: readonly string[];
  /** Arrays compared as sets: path -> the field that keys an element (null: whole elements, as a multiset). */
  readonly sets?: Readonly<Record<string, string | null>>;
  /** Two numbers (or two numeric strings) this close are equal. @default 0 */
  readonly numericTolerance?: number;
  /** Two timestamps are compared as instants, whatever their format or precision; this close are equal. @default 1 */
  readonly timeToleranceMs?: number;
}

/** One HTTP answer as the engine sees it. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Buffer | string | null;
}

export type DifferenceKind = 'status' | 'header' | 'value' | 'type' | 'missing' | 'extra' | 'body';

/** One place where the answers differ. `path` is `status`, `header:<name>`, `body` (not JSON) or a JSON path. */
export interface Difference {
  readonly path: string;
  readonly kind: DifferenceKind;
  readonly primary: unknown;
  readonly candidate: unknown;
}

export interface Comparison {
  /**
   * No difference left after the rules and the learned noise. A match with
   * `noise` not empty was not fully compared: parity counts it as filtered,
   * never as a match.
   */
  readonly match: boolean;
  readonly differences: readonly Difference[];
  /** Differences dropped because the monolith disagrees with itself there (learned noise). */
  readonly noise: readonly Difference[];
}

/** Rules compiled once per route: path matchers built, defaults filled. */
export interface CompiledRules {
  readonly headers: readonly string[];
  readonly ignored: (path: string) => boolean;
  readonly sets: ReadonlyArray<readonly [(at: readonly Segment[]) => boolean, string | null]>;
  readonly numericTolerance: number;
  readonly timeToleranceUs: number;
}

export function compileRules(rules: ParityRules = {}): CompiledRules {
  return {
    headers: (rules.headers ?? ['content-type']).map((h) => h.toLowerCase()),
    ignored: anyPath(rules.ignore ?? []),
    sets: Object.entries(rules.sets ?? {}).map(([p, key]) => {
      const bySegments = compileSegments(p);
      const byText = bySegments ? null : compilePath(p, true);
      return [bySegments ?? ((at: readonly Segment[]) => byText!(formatPath(at))), key] as const;
    }),
    numericTolerance: rules.numericTolerance ?? 0,
    timeToleranceUs: (rules.timeToleranceMs ?? 1) * 1000,
  };
}

/**
 * Compares a candidate's answer with the primary's: status, the chosen
 * headers, and the bodies (JSON under the rules; anything else byte for
 * byte). `isNoise` says which differences lie where the monolith itself does not repeat
 * (learned noise); differences there are reported apart, not counted.
 */
export function compareAnswers(primary: Answer, candidate: Answer, rules: CompiledRules, isNoise: (d: Difference) => boolean = () => false): Comparison {
  return classify(differencesOf(primary, candidate, rules), isNoise);
}

/** Every difference the rules leave (ignored paths dropped), before any noise is known. */
export function differencesOf(primary: Answer, candidate: Answer, rules: CompiledRules): Difference[] {
  const found: Difference[] = [];
  if (primary.status !== candidate.status) found.push({ path: 'status', kind: 'status', primary: primary.status, candidate: candidate.status });
  for (const h of rules.headers) {
    const a = headerValue(primary.headers[h]);
    const b = headerValue(candidate.headers[h]);
    if (a !== b) found.push({ path: `header:${h}`, kind: 'header', primary: a, candidate: b });
  }
  // Byte-equal bodies (the common case once a service is right) need no parsing at all.
  if (!sameBytes(primary.body, candidate.body)) {
    const a = parseBody(primary);
    const b = parseBody(candidate);
    if (a.json && b.json) diffValues(a.value, b.value, [], rules, found);
    else if (!bodyBytesEqual(a.raw, b.raw)) found.push({ path: 'body', kind: 'body', primary: a.raw, candidate: b.raw });
  }
  return found.filter((d) => !(d.path.startsWith('$') && rules.ignored(d.path)));
}

/** Splits differences into those that count and those on learned noise (a comparison may be classified again as noise is learned). */
export function classify(found: readonly Difference[], isNoise: (d: Difference) => boolean): Comparison {
  const differences: Difference[] = [];
  const noise: Difference[] = [];
  for (const d of found) (isNoise(d) ? noise : differences).push(d);
  return { match: differences.length === 0, differences, noise };
}

/** Structural differences of two JSON values (used for learning noise too). */
export function diffValues(a: unknown, b: unknown, at: Segment[], rules: CompiledRules, out: Difference[]): void {
  if (a === b) return;
  const ta = kindOf(a);
  const tb = kindOf(b);
  if (ta === 'object' && tb === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    let shared = 0;
    for (const k in x) {
      const xv = x[k];
      const yv = Object.hasOwn(y, k) ? y[k] : MISSING;
      if (yv !== MISSING) shared++;
      if (xv === yv) continue; // the common case, without a call
      at.push(k);
      if (yv === MISSING) out.push({ path: formatPath(at), kind: 'missing', primary: xv, candidate: undefined });
      else diffValues(xv, yv, at, rules, out);
      at.pop();
    }
    let ny = 0;
    for (const _ in y) ny++;
    if (ny !== shared) {
      for (const k in y) {
        if (Object.hasOwn(x, k)) continue;
        at.push(k);
        out.push({ path: formatPath(at), kind: 'extra', primary: undefined, candidate: y[k] });
        at.pop();
      }
    }
    return;
  }
  if (ta === 'array' && tb === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    if (rules.sets.length > 0) {
      const set = setRule(rules, at);
      // Same elements in the same order is the common case: no pairing needed.
      if (set) return sameJson(x, y) ? undefined : diffSets(x, y, set[1], at, rules, out);
    }
    const n = Math.max(x.length, y.length);
    for (let i = 0; i < n; i++) {
      if (i < x.length && i < y.length && x[i] === y[i]) continue;
      at.push(i);
      if (i >= y.length) out.push({ path: formatPath(at), kind: 'missing', primary: x[i], candidate: undefined });
      else if (i >= x.length) out.push({ path: formatPath(at), kind: 'extra', primary: undefined, candidate: y[i] });
      else diffValues(x[i], y[i], at, rules, out);
      at.pop();
    }
    return;
  }
  if (equalScalars(a, b, rules)) return;
  out.push({ path: formatPath(at), kind: ta === tb ? 'value' : 'type', primary: a, candidate: b });
}

const MISSING = Symbol('missing');

function setRule(rules: CompiledRules, at: readonly Segment[]): readonly [unknown, string | null] | undefined {
  for (let i = 0; i < rules.sets.length; i++) if (rules.sets[i]![0](at)) return rules.sets[i];
  return undefined;
}

/**
 * Arrays as sets: elements paired by their key (or by their whole JSON when
 * the key is null); a pair is reported at the primary's index, an element
 * only the candidate has at its own index.
 */
function diffSets(x: unknown[], y: unknown[], key: string | null, at: Segment[], rules: CompiledRules, out: Difference[]): void {
  if (x.length <= 16 && y.length <= 16) return diffSmallSet(x, y, key, at, rules, out);
  const ys = new Map<string, number[]>();
  for (let i = 0; i < y.length; i++) {
    const k = setKey(y[i], key);
    const list = ys.get(k);
    if (list) list.push(i);
    else ys.set(k, [i]);
  }
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const j = ys.get(setKey(v, key))?.shift();
    at.push(i);
    if (j === undefined) out.push({ path: formatPath(at), kind: 'missing', primary: v, candidate: undefined });
    else if (key !== null) diffValues(v, y[j], at, rules, out);
    at.pop();
  }
  for (const rest of ys.values()) {
    for (const j of rest) {
      at.push(j);
      out.push({ path: formatPath(at), kind: 'extra', primary: undefined, candidate: y[j] });
      at.pop();
    }
  }
}

/** What pairs an element of a set: its key field's value, or (key null) its whole JSON. */
function setKey(v: unknown, key: string | null): string {
  const k = key !== null && v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : v;
  return typeof k === 'number' ? `n${k}` : typeof k === 'string' ? `s${k}` : stableJson(k);
}

/** diffSets for at most 16 elements a side: pairing by a linear search beats building a map; a bit mask marks the paired. */
function diffSmallSet(x: unknown[], y: unknown[], key: string | null, at: Segment[], rules: CompiledRules, out: Difference[]): void {
  const yKeys: string[] = [];
  for (let c = 0; c < y.length; c++) yKeys.push(setKey(y[c], key));
  let used = 0;
  for (let i = 0; i < x.length; i++) {
    const k = setKey(x[i], key);
    let j = -1;
    for (let c = 0; c < yKeys.length; c++) {
      if ((used & (1 << c)) === 0 && yKeys[c] === k) {
        j = c;
        break;
      }
    }
    at.push(i);
    if (j < 0) out.push({ path: formatPath(at), kind: 'missing', primary: x[i], candidate: undefined });
    else {
      used |= 1 << j;
      if (key !== null) diffValues(x[i], y[j], at, rules, out);
    }
    at.pop();
  }
  for (let j = 0; j < y.length; j++) {
    if ((used & (1 << j)) !== 0) continue;
    at.push(j);
    out.push({ path: formatPath(at), kind: 'extra', primary: undefined, candidate: y[j] });
    at.pop();
  }
}

function kindOf(v: unknown): 'object' | 'array' | 'null' | 'string' | 'number' | 'boolean' | 'other' {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'object' || t === 'string' || t === 'number' || t === 'boolean' ? t : 'other';
}

/** A number written as a string: what numericTolerance also compares as a number. */
export const NUMERIC = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function equalScalars(a: unknown, b: unknown, rules: CompiledRules): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= rules.numericTolerance;
  if (typeof a === 'string' && typeof b === 'string') {
    const quick = sameSecondUs(a, b);
    if (quick !== null) return quick <= rules.timeToleranceUs;
    const ta = instantUs(a);
    if (ta !== null) {
      const tb = instantUs(b);
      if (tb !== null) return Math.abs(ta - tb) <= rules.timeToleranceUs;
    }
    // Exact decimals sent as strings ("1250.10" and "1250.1" are one amount).
    if (NUMERIC.test(a) && NUMERIC.test(b)) return Math.abs(Number(a) - Number(b)) <= rules.numericTolerance;
  }
  return false;
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Two ISO timestamps written alike up to the second and in the same zone
 * (the usual difference is precision): their distance in microseconds
 * without a full parse; null when that shortcut does not apply.
 */
function sameSecondUs(a: string, b: string): number | null {
  // yyyy-mm-ddThh:mm:ss. in both, character for character
  if (a.length < 21 || b.length < 21 || a.charCodeAt(19) !== 46 || b.charCodeAt(19) !== 46) return null;
  for (let i = 0; i < 19; i++) {
    const c = a.charCodeAt(i);
    if (c !== b.charCodeAt(i)) return null;
    if (i === 4 || i === 7 ? c !== 45 : i === 10 ? c !== 84 : i === 13 || i === 16 ? c !== 58 : c < 48 || c > 57) return null;
  }
  const ea = fractionEnd(a);
  const eb = fractionEnd(b);
  if (ea < 0 || eb < 0 || a.length - ea !== b.length - eb || !validZone(a, ea)) return null;
  for (let i = ea, j = eb; i < a.length; i++, j++) if (a.charCodeAt(i) !== b.charCodeAt(j)) return null;
  return Math.abs(fractionUs(a, ea) - fractionUs(b, eb));
}

/** Where the digits after the second's dot end (1 to 9 of them), or -1. */
function fractionEnd(s: string): number {
  let i = 20;
  while (i < s.length && i < 30) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i === 20 || i - 20 > 9 ? -1 : i;
}

/** The fraction's first six digits as microseconds. */
function fractionUs(s: string, end: number): number {
  let us = 0;
  for (let i = 20; i < 26; i++) us = us * 10 + (i < end ? s.charCodeAt(i) - 48 : 0);
  return us;
}

/** Z, +hh:mm or +hhmm from `at` to the end. */
function validZone(s: string, at: number): boolean {
  const n = s.length - at;
  const c = s.charCodeAt(at);
  if (n === 1) return c === 90 || c === 122;
  if ((c !== 43 && c !== 45) || (n !== 5 && n !== 6)) return false;
  for (let i = at + 1; i < s.length; i++) {
    const d = s.charCodeAt(i);
    if (n === 6 && i === at + 3 ? d !== 58 : !(d >= 48 && d <= 57)) return false;
  }
  return true;
}

/** Structural equality, exact (no rules): the fast path before pairing a set. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/** A timestamp string as microseconds since the epoch (no zone: UTC), or null when it is not one. */
export function instantUs(s: string): number | null {
  // Cheap shape check first: most strings are not timestamps.
  if (s.length < 16 || s.length > 40 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return null;
  const m = TIMESTAMP.exec(s);
  if (!m) return null;
  let offsetMin = 0;
  const z = m[8];
  if (z !== undefined && z !== 'Z' && z !== 'z') {
    const digits = z.replace(':', '');
    offsetMin = (z[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5) || '0'));
  }
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  if (Number.isNaN(ms)) return null;
  const frac = m[7] === undefined ? 0 : Number(m[7].padEnd(6, '0').slice(0, 6));
  return (ms - offsetMin * 60_000) * 1000 + frac;
}

/** An answer's body as JSON (decoded per Content-Encoding), or undefined when it is not JSON. */
export function jsonOf(a: Answer): unknown {
  const b = parseBody(a);
  return b.json ? b.value : undefined;
}

function headerValue(v: string | readonly string[] | undefined): string | null {
  if (v === undefined) return null;
  return typeof v === 'string' ? v : v.join(', ');
}

function parseBody(a: Answer): { json: boolean; value: unknown; raw: string | null } {
  if (a.body === null || a.body.length === 0) return { json: false, value: undefined, raw: null };
  // What a client reads: compressed bodies decoded (one that cannot be is compared as it came).
  const coding = a.headers['content-encoding'];
  const bytes = coding === undefined || typeof a.body === 'string' ? a.body : (decodeContent(a.body, coding) ?? a.body);
  const raw = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  const type = headerValue(a.headers['content-type']) ?? '';
  const first = raw.trimStart()[0];
  if (type.includes('json') || first === '{' || first === '[') {
    try {
      return { json: true, value: JSON.parse(raw), raw };
    } catch {
      // not JSON after all: compared as text
    }
  }
  return { json: false, value: undefined, raw };
}

function sameBytes(a: Buffer | string | null, b: Buffer | string | null): boolean {
  if (a === null || b === null) return (a === null || a.length === 0) && (b === null || b.length === 0);
  if (typeof a === 'string' || typeof b === 'string') return a.toString() === b.toString();
  return a.equals(b);
}

function bodyBytesEqual(a: string | null, b: string | null): boolean {
  return (a ?? '') === (b ?? '');
}

/** JSON with object keys sorted: equal values, equal text. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}
