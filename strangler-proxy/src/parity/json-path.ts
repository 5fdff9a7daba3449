/**
 * The JSON paths parity rules are written in, and the concrete paths the
 * comparison reports: `$`, `.name`, `["odd name"]`, `[3]`, with `[*]` (any
 * index), `.*` (any key) and `..name` (at any depth) in patterns.
 */

export type Segment = string | number;

const PLAIN = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `$.items[3].updated_at` from its segments. */
export function formatPath(segments: readonly Segment[]): string {
  let out = '$';
  for (const s of segments) out += formatSegment(s);
  return out;
}

/** One segment as a path writes it: `[3]`, `.name`, `["odd name"]`. */
export function formatSegment(s: Segment): string {
  return typeof s === 'number' ? `[${s}]` : PLAIN.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
}

/** The same path with every index replaced by `[*]`: what a route's learned noise is keyed by. */
export function generalise(path: string): string {
  return path.replace(/\[\d+\]/g, '[*]');
}

export class JsonPathError extends Error {
  constructor(
    readonly pattern: string,
    message: string,
  ) {
    super(`${JSON.stringify(pattern)}: ${message}`);
  }
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const KEY = `(?:\\.${PLAIN.source.slice(1, -1)}|\\[(?:"(?:[^"\\\\]|\\\\.)*")\\])`;
const STEP = `(?:${KEY}|\\[\\d+\\])`;

/**
 * Compiles a pattern to a matcher of concrete paths (formatPath's output).
 * A pattern also matches everything below what it names (ignoring `$.meta`
 * ignores `$.meta.request_id`), unless `exact`.
 */
export function compilePath(pattern: string, exact = false): (path: string) => boolean {
  if (!pattern.startsWith('$')) throw new JsonPathError(pattern, 'a path starts with $');
  let re = '^\\$';
  let i = 1;
  while (i < pattern.length) {
    const rest = pattern.slice(i);
    let m: RegExpMatchArray | null;
    if ((m = rest.match(/^\.\.([A-Za-z_$][A-Za-z0-9_$-]*)/))) {
      re += `${STEP}*\\.${esc(m[1]!)}`;
    } else if ((m = rest.match(/^\.\*/))) {
      re += KEY;
    } else if ((m = rest.match(/^\.([A-Za-z_$][A-Za-z0-9_$-]*)/))) {
      re += `\\.${esc(m[1]!)}`;
    } else if ((m = rest.match(/^\[\*\]/))) {
      re += '\\[\\d+\\]';
    } else if ((m = rest.match(/^\[(\d+)\]/))) {
      re += `\\[${m[1]}\\]`;
    } else if ((m = rest.match(/^\[("(?:[^"\\]|\\.)*")\]/))) {
      const key = JSON.parse(m[1]!) as string;
      re += PLAIN.test(key) ? `\\.${esc(key)}` : `\\[${esc(JSON.stringify(key))}\\]`;
    } else {
      throw new JsonPathError(pattern, `cannot read it from ${JSON.stringify(rest)} on (use .name, ["name"], [3], [*], .* or ..name)`);
    }
    i += m[0].length;
  }
  const compiled = new RegExp(exact ? `${re}$` : `${re}(?:${STEP})*$`);
  return (path) => compiled.test(path);
}

/** Matches a concrete path against any of several patterns. */
export function anyPath(patterns: readonly string[]): (path: string) => boolean {
  const all = patterns.map((p) => compilePath(p));
  return all.length === 0 ? () => false : (path) => all.some((m) => m(path));
}

/**
 * A matcher over path segments (no string built), for patterns made of
 * names, indices, [*] and .* only; null for anything else (..name).
 */
export function compileSegments(pattern: string): ((at: readonly Segment[]) => boolean) | null {
  if (pattern.includes('..')) return null;
  compilePath(pattern); // the same syntax errors, with the same messages
  const parts: Array<string | number | typeof ANY_INDEX | typeof ANY_KEY> = [];
  const re = /\.([A-Za-z_$][A-Za-z0-9_$-]*)|\.\*|\[\*\]|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;
  re.lastIndex = 1;
  for (let m = re.exec(pattern); m; m = re.exec(pattern)) {
    if (m[0] === '.*') parts.push(ANY_KEY);
    else if (m[0] === '[*]') parts.push(ANY_INDEX);
    else if (m[1] !== undefined) parts.push(m[1]);
    else if (m[2] !== undefined) parts.push(Number(m[2]));
    else parts.push(JSON.parse(m[3]!) as string);
  }
  return (at) => {
    if (at.length !== parts.length) return false;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      const s = at[i];
      if (p === ANY_INDEX ? typeof s !== 'number' : p === ANY_KEY ? typeof s !== 'string' : p !== s) return false;
    }
    return true;
  };
}

const ANY_INDEX = Symbol('[*]');
const ANY_KEY = Symbol('.*');

/** The segments of a concrete path (formatPath's output), or null when it is not one. */
export function parsePath(path: string): Segment[] | null {
  if (!path.startsWith('$')) return null;
  const out: Segment[] = [];
  const re = /\.([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;
  re.lastIndex = 1;
  let end = 1;
  for (let m = re.exec(path); m; m = re.exec(path)) {
    out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string)));
    end = re.lastIndex;
  }
  return end === path.length ? out : null;
}
