/**
 * Route templates proposed from observed traffic (a corpus, or a capture
 * run's): paths with `:param` where the traffic shows values, one route for
 * a template's reads and one for its writes, ordered so that the proxy's
 * first match wins the way a person would have written them (a literal
 * segment before a parameter in the same place). Pure: tested as tables.
 */

export interface ObservedRequest {
  readonly method: string;
  /** Path with or without a query (the query is left out). */
  readonly path: string;
}

export interface LearnedRoute {
  readonly id: string;
  readonly match: { readonly method: string | readonly string[]; readonly path: string };
  /** Requests it covers in the traffic, and a few of their paths. */
  readonly seen: number;
  readonly examples: readonly string[];
}

export interface LearnOptions {
  /**
   * A place where this many different words follow the same prefix (and
   * nothing else differs) is taken for a parameter too (user names, slugs).
   * @default 8
   */
  readonly minDistinct?: number;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A segment that is a value, not a name: a number, a UUID, a ULID, a hex or mixed token, a date. */
export function looksLikeValue(segment: string): boolean {
  const s = decodeURIComponentSafe(segment);
  return (
    /^-?\d+(\.\d+)?$/.test(s) ||
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s) ||
    /^[0-9A-HJKMNP-TV-Z]{26}$/.test(s) ||
    (/^[0-9a-f]{8,}$/i.test(s) && /\d/.test(s)) ||
    /^\d{4}-\d{2}-\d{2}([T ][\d:.]+Z?)?$/.test(s) ||
    (s.length >= 12 && /^[A-Za-z0-9_-]+$/.test(s) && /\d/.test(s) && /[A-Za-z]/.test(s)) ||
    /^[^@/\s]+@[^@/\s]+\.[a-z]{2,}$/i.test(s)
  );
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const PARAM = '\u0000';

/** Proposes the routes of a body of traffic (see the module comment). */
export function learnRoutes(requests: readonly ObservedRequest[], options: LearnOptions = {}): LearnedRoute[] {
  const minDistinct = options.minDistinct ?? 8;
  // 1. Each path as segments, values already taken for parameters.
  const shapes = requests.map((r) => {
    const path = r.path.split('?')[0]!.split('#')[0]!;
    const segments = path.split('/').slice(1);
    return { method: r.method.toUpperCase(), path, segments: segments.map((s) => (looksLikeValue(s) ? PARAM : s)) };
  });
  // 2. Places with many words after the same prefix, and the same rest: parameters too.
  for (let changed = true; changed; ) {
    changed = false;
    const groups = new Map<string, Set<string>>();
    for (const s of shapes) {
      s.segments.forEach((seg, i) => {
        if (seg === PARAM) return;
        const key = `${s.segments.length}|${i}|${s.segments.map((x, j) => (j === i ? '*' : x)).join('/')}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = new Set()));
        g.add(seg);
      });
    }
    for (const [key, words] of groups) {
      if (words.size < minDistinct) continue;
      const [len, at, rest] = key.split('|') as [string, string, string];
      for (const s of shapes) {
        if (String(s.segments.length) !== len) continue;
        const i = Number(at);
        if (s.segments.map((x, j) => (j === i ? '*' : x)).join('/') === rest && s.segments[i] !== PARAM) {
          s.segments[i] = PARAM;
          changed = true;
        }
      }
    }
  }
  // 3. One route per template for its reads, one for its writes.
  const routes = new Map<string, { template: string[]; methods: Set<string>; seen: number; examples: string[]; write: boolean }>();
  for (const s of shapes) {
    const write = !SAFE.has(s.method);
    const key = `${write ? 'w' : 'r'} ${s.segments.join('/')}`;
    let r = routes.get(key);
    if (!r) routes.set(key, (r = { template: s.segments, methods: new Set(), seen: 0, examples: [], write }));
    r.methods.add(s.method);
    r.seen++;
    if (r.examples.length < 3 && !r.examples.includes(s.path)) r.examples.push(s.path);
  }
  const ids = new Set<string>();
  const learned = [...routes.values()].map((r) => {
    const methods = [...r.methods].sort();
    return {
      id: uniqueId(ids, `${slug(named(r.template))}-${r.write ? 'write' : 'read'}`),
      match: { method: methods.length === 1 ? methods[0]! : methods, path: `/${named(r.template).join('/')}` },
      seen: r.seen,
      examples: r.examples,
      order: r.template,
    };
  });
  // 4. First match wins: at the first place two templates differ, a literal before a parameter; then the longer first.
  learned.sort((a, b) => compareTemplates(a.order, b.order) || a.id.localeCompare(b.id));
  return learned.map(({ order: _order, ...r }) => r);
}

function compareTemplates(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    if (a[i] === PARAM) return 1;
    if (b[i] === PARAM) return -1;
    return a[i]!.localeCompare(b[i]!);
  }
  return b.length - a.length;
}

/** Parameter names: `:id` at the end, `:<name>Id` after a name inside (rooms/:roomId/messages). */
function named(template: readonly string[]): string[] {
  const used = new Set<string>();
  return template.map((seg, i) => {
    if (seg !== PARAM) return seg;
    const before = template[i - 1];
    let name = i === template.length - 1 || before === undefined || before === PARAM ? 'id' : `${camel(singular(before))}Id`;
    if (used.has(name)) name = `${camel(singular(before ?? 'param'))}Id`;
    for (let n = 2; used.has(name); n++) name = `id${n}`;
    used.add(name);
    return `:${name}`;
  });
}

function singular(word: string): string {
  if (/ies$/.test(word)) return word.replace(/ies$/, 'y');
  if (/(ss|us)$/.test(word)) return word;
  return word.replace(/s$/, '');
}

function camel(word: string): string {
  return word.toLowerCase().replace(/[^a-z0-9]+([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/[^a-z0-9]/gi, '') || 'param';
}

/** A route id from its named template: its words and parameter names (rooms-roomid-messages). */
function slug(template: readonly string[]): string {
  const words = template.filter((s) => s !== '' && !/^(api|v\d+)$/i.test(s)).map((s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''));
  const s = words.filter(Boolean).join('-') || 'root';
  return /^[a-z]/.test(s) ? s : `r-${s}`;
}

function uniqueId(ids: Set<string>, id: string): string {
  let out = id.slice(0, 60);
  for (let n = 2; ids.has(out); n++) out = `${id.slice(0, 56)}-${n}`;
  ids.add(out);
  return out;
}
