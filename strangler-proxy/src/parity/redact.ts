import { decodeContent } from './content-coding';
import { anyPath, formatPath, type Segment } from './json-path';

export const REDACTED = '[redacted]';

export interface Redactor {
  headers<T extends string | readonly string[]>(h: Readonly<Record<string, T>>): Record<string, T | string>;
  /**
   * A body as a client reads it (decoded per its Content-Encoding), with the
   * configured JSON paths replaced; anything else as it is. What comes out is
   * never encoded: a body that cannot be decoded is replaced by a note, since
   * what it holds cannot be checked.
   */
  body(b: Buffer | null, contentEncoding?: string | readonly string[]): Buffer | null;
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
    body(encoded, contentEncoding) {
      if (encoded === null) return null;
      const b = decodeContent(encoded, contentEncoding);
      if (b === null) return Buffer.from(`[a body of ${encoded.length} bytes in content coding "${String(contentEncoding)}" that could not be decoded]`);
      if (cfg.jsonPaths.length === 0) return b;
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
