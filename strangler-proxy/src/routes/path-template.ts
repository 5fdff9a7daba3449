/**
 * Path templates: literal segments, `:name` for exactly one non-empty
 * segment, and a final `*` for whatever rest (zero or more segments).
 * Matching works on the raw (still percent-encoded) path so the proxy and
 * the upstream never disagree about what a request names.
 */
export type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'rest' };

export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly Segment[];
  /** Matches the path's segments (as returned by splitPath). */
  matches(segments: readonly string[]): boolean;
}

/** Parses a template, or returns the reason it is not one. */
export function parseTemplate(source: string): PathTemplate | string {
  const raw = splitPath(source);
  const segments: Segment[] = [];
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i]!;
    if (s === '*') {
      if (i !== raw.length - 1) return '* may only be the last segment';
      segments.push({ kind: 'rest' });
    } else if (s.startsWith(':')) {
      if (!/^:[A-Za-z_][A-Za-z0-9_]*$/.test(s)) return `segment "${s}" is not a valid :param`;
      segments.push({ kind: 'param', name: s.slice(1) });
    } else if (s.includes('*') || s.includes(':')) {
      return `segment "${s}" mixes text with * or :`;
    } else {
      segments.push({ kind: 'literal', value: s });
    }
  }
  const frozen = Object.freeze(segments.map((s) => Object.freeze(s)));
  const hasRest = frozen.length > 0 && frozen[frozen.length - 1]!.kind === 'rest';
  const fixed = hasRest ? frozen.length - 1 : frozen.length;
  return Object.freeze({
    source,
    segments: frozen,
    matches(path: readonly string[]): boolean {
      if (hasRest ? path.length < fixed : path.length !== fixed) return false;
      for (let i = 0; i < fixed; i++) {
        const seg = frozen[i]!;
        const got = path[i]!;
        if (seg.kind === 'literal' ? got !== seg.value : got === '') return false;
      }
      return true;
    },
  });
}

/** "/api/rooms/7/" → ["api", "rooms", "7", ""]; "/" → []. */
export function splitPath(path: string): string[] {
  if (path === '/' || path === '') return [];
  return path.slice(1).split('/');
}

/**
 * True when every path `b` matches is also matched by `a` (so a route with
 * template `b` placed after one with `a` can never be reached by path).
 */
export function covers(a: PathTemplate, b: PathTemplate): boolean {
  const as = a.segments;
  const bs = b.segments;
  for (let i = 0; i < as.length; i++) {
    const sa = as[i]!;
    if (sa.kind === 'rest') return true;
    const sb = bs[i];
    if (sb === undefined || sb.kind === 'rest') return false;
    if (sa.kind === 'literal' && (sb.kind !== 'literal' || sb.value !== sa.value)) return false;
  }
  return as.length === bs.length;
}
