import { anyPath, formatPath, type Segment } from './json-path';

export const REDACTED = '[redacted]';

export interface Redactor {
  headers<T extends string | readonly string[]>(h: Readonly<Record<string, T>>): Record<string, T | string>;
  /** A JSON body with the configured paths replaced; anything else as it is. */
  body(b: Buffer | null): Buffer | null;
}

/** What recorded exchanges, stored mismatches and captured corpora must never show: credentials and personal data. */
export function redactor(cfg: { readonly headers: readonly string[]; readonly jsonPaths: readonly string[] }): Redactor {
  const names = new Set(cfg.headers.map((h) => h.toLowerCase()));
  const hit = anyPath(cfg.jsonPaths);
  const walk = (v: unknown, at: Segment[]): unknown => {
    if (at.length > 0 && hit(formatPath(at))) return REDACTED;
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, i]));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...at, k])]));
    return v;
  };
  return {
    headers: (h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, names.has(k.toLowerCase()) ? REDACTED : v])),
    body(b) {
      if (b === null || cfg.jsonPaths.length === 0) return b;
      const first = b.subarray(0, 64).toString('utf8').trimStart()[0];
      if (first !== '{' && first !== '[') return b;
      try {
        return Buffer.from(JSON.stringify(walk(JSON.parse(b.toString('utf8')), [])));
      } catch {
        return b;
      }
    },
  };
}
