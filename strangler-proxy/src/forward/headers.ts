/**
 * Header hygiene, in both directions (RFC 9110 §7.6.1): hop-by-hop headers
 * and every header named in Connection never cross the proxy; Via is
 * extended; Host and X-Forwarded-* are set on purpose, not copied.
 */

/** Hop-by-hop in every HTTP/1.1 proxy, whatever Connection says. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Headers the proxy owns on the way in: a client's copy is never forwarded. */
export const SET_BY_PROXY: ReadonlySet<string> = new Set(['host', 'via', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-request-id']);

/**
 * Expectations are met at this hop: the proxy's own server answers
 * `Expect: 100-continue` (Node sends the 100 before the body is read) and
 * refuses any other expectation with 417, so the upstream never sees one
 * (undici refuses to send the header at all).
 */
export const MET_BY_PROXY: ReadonlySet<string> = new Set(['expect']);

/** Every request header the proxy never copies to an upstream, in one set: one lookup per header. */
const NOT_FORWARDED: ReadonlySet<string> = new Set([...HOP_BY_HOP, ...SET_BY_PROXY, ...MET_BY_PROXY]);

/** Lower-cased names listed in all Connection header values. */
export function connectionTokens(values: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const v of values) {
    for (const t of v.split(',')) {
      const name = t.trim().toLowerCase();
      if (name) out.add(name);
    }
  }
  return out;
}

export interface ForwardContext {
  /** The immediate peer's address. */
  readonly peer: string;
  /** Whether the peer is a trusted proxy whose X-Forwarded-* we extend. */
  readonly trustedPeer: boolean;
  /** The authority to send as Host. */
  readonly host: string;
  /** "http" or "https" as seen by the proxy's listener. */
  readonly proto: string;
  readonly via: string;
  readonly requestId: string;
  /** Further lower-case names to drop (the tenant header, the shadow and dry-run markers). */
  readonly drop: ReadonlySet<string>;
  /** Extra headers to add last. */
  readonly add?: readonly (readonly [string, string])[];
  /** Cookies the proxy itself owns (read-your-writes' marks): taken out of Cookie headers, never sent upstream. */
  readonly dropCookie?: readonly string[];
}

/**
 * Builds the upstream request's headers from a Node rawHeaders array (a flat
 * [name, value, ...] list, original case and order kept).
 */
export function requestHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  const connection: string[] = [];
  let xff: string | null = null;
  let xfProto: string | null = null;
  let xfHost: string | null = null;
  let via: string | null = null;
  let clientHost: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    switch (name) {
      case 'connection':
        connection.push(value);
        break;
      case 'x-forwarded-for':
        xff = xff === null ? value : `${xff}, ${value}`;
        break;
      case 'x-forwarded-proto':
        xfProto ??= value;
        break;
      case 'x-forwarded-host':
        xfHost ??= value;
        break;
      case 'via':
        via = via === null ? value : `${via}, ${value}`;
        break;
      case 'host':
        clientHost ??= value;
        break;
    }
  }
  const listed = connection.length > 0 ? connectionTokens(connection) : null;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const original = raw[i]!;
    const name = original.toLowerCase();
    if (NOT_FORWARDED.has(name) || ctx.drop.has(name) || (listed !== null && listed.has(name))) continue;
    if (ctx.dropCookie !== undefined && name === 'cookie') {
      const kept = withoutCookie(raw[i + 1]!, ctx.dropCookie);
      if (kept !== '') out.push(original, kept);
      continue;
    }
    out.push(original, raw[i + 1]!);
  }
  out.push('host', ctx.host);
  out.push('via', via === null ? `1.1 ${ctx.via}` : `${via}, 1.1 ${ctx.via}`);
  if (ctx.trustedPeer) {
    out.push('x-forwarded-for', xff === null ? ctx.peer : `${xff}, ${ctx.peer}`);
    out.push('x-forwarded-proto', xfProto ?? ctx.proto);
    out.push('x-forwarded-host', xfHost ?? clientHost ?? ctx.host);
  } else {
    out.push('x-forwarded-for', ctx.peer);
    out.push('x-forwarded-proto', ctx.proto);
    if (clientHost !== null) out.push('x-forwarded-host', clientHost);
  }
  out.push('x-request-id', ctx.requestId);
  if (ctx.add) for (const [k, v] of ctx.add) out.push(k, v);
  return out;
}

/**
 * A Cookie header's value without the pairs named in `names` (RFC 6265
 * §4.2.1: pairs joined by "; "); the value untouched when it holds none, ''
 * when nothing is left.
 */
export function withoutCookie(value: string, names: string | readonly string[]): string {
  const list = typeof names === 'string' ? [names] : names;
  if (!list.some((n) => value.includes(n))) return value;
  const kept: string[] = [];
  let removed = false;
  for (const pair of value.split(';')) {
    const p = pair.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (list.includes(eq < 0 ? p : p.slice(0, eq).trim())) removed = true;
    else kept.push(p);
  }
  return removed ? kept.join('; ') : value;
}

/** The write time (ms since the epoch) in a Cookie header's `name=<digits>`, or null. */
export function writtenAt(header: string | undefined, name: string): number | null {
  if (header === undefined) return null;
  for (let i = header.indexOf(`${name}=`); i >= 0; i = header.indexOf(`${name}=`, i + 1)) {
    // At the start of a cookie-pair, not inside another's name or value.
    if (i > 0 && header.charCodeAt(i - 1) !== 32 && header.charCodeAt(i - 1) !== 59) continue;
    const from = i + name.length + 1;
    let end = header.indexOf(';', from);
    if (end < 0) end = header.length;
    const value = header.slice(from, end).trim();
    return /^\d{1,15}$/.test(value) ? Number(value) : null;
  }
  return null;
}

/**
 * Filters the upstream's response headers (undici's lower-case record) for
 * the client, in place of a copy: hop-by-hop and Connection-listed names out,
 * Via extended.
 */
export function responseHeaders(headers: Record<string, string | string[] | undefined>, via: string): Record<string, string | string[]> {
  const conn = headers.connection;
  // Most upstreams say just "keep-alive" (or "close"): both hop-by-hop already, nothing more to list.
  const listed = conn === undefined || conn === 'keep-alive' || conn === 'close' ? null : connectionTokens(Array.isArray(conn) ? conn : [conn]);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || (listed !== null && listed.has(name))) continue;
    out[name] = value;
  }
  const upstreamVia = out.via;
  out.via = upstreamVia === undefined ? `1.1 ${via}` : `${Array.isArray(upstreamVia) ? upstreamVia.join(', ') : upstreamVia}, 1.1 ${via}`;
  return out;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's request id when it is a sane token, so a trace can be followed across hops. */
export function acceptRequestId(value: string | string[] | undefined): string | null {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : null;
}
