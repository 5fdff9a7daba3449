import type { Redactor } from '../parity/redact';

/**
 * One shadowed request with both answers: what the parity engine compares.
 * Bodies are kept as received (capped); `truncated` says when a cap cut one.
 */
export interface CapturedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer;
  readonly truncated: boolean;
  readonly ms: number;
}

/** The primary's answer as the data plane captured it: the chunks as they streamed (copied once, into the shadow ring, when mirrored). */
export interface CapturedChunks extends Omit<CapturedResponse, 'body'> {
  readonly chunks: readonly Buffer[];
  readonly size: number;
}

export interface ShadowExchange {
  readonly id: string;
  readonly at: string;
  readonly route: string;
  readonly tenant: string;
  readonly service: string;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: Buffer | null;
  };
  readonly primary: CapturedResponse;
  /** The extracted service's answer, or why there is none. */
  readonly shadow: CapturedResponse | { readonly error: string; readonly ms: number };
  /**
   * Two more answers of the monolith to the same read (sampled), to learn
   * noise in flight; `changed` when the tenant's data may have changed
   * between them (the pair is then never learned from).
   */
  readonly noisePair?: NoisePair;
}

export interface NoisePair {
  readonly first: CapturedResponse;
  readonly second: CapturedResponse;
  readonly changed: boolean;
}

/** Keeps the last N exchanges for the admin API (GET /shadow/recent), in the shadow thread. */
export class RecentExchanges {
  private readonly items: ShadowExchange[];
  constructor(
    readonly keep: number,
    from: readonly ShadowExchange[] = [],
  ) {
    this.items = keep === 0 ? [] : from.slice(-keep);
  }

  record(exchange: ShadowExchange): void {
    if (this.keep === 0) return;
    this.items.push(exchange);
    if (this.items.length > this.keep) this.items.shift();
  }

  list(): readonly ShadowExchange[] {
    return [...this.items];
  }
}

/**
 * A JSON-friendly view for the admin API, redacted as stored mismatches are:
 * the configured headers (set-cookie of the answers among them) and JSON
 * paths; bodies decoded as a client reads them, as UTF-8 text when they are,
 * base64 otherwise.
 */
export function exchangeJson(e: ShadowExchange, r: Redactor): unknown {
  const body = (raw: Buffer | null, headers: Readonly<Record<string, string | string[]>>) => {
    const b = r.body(raw, headers['content-encoding']);
    return b === null ? null : isUtf8(b) ? b.toString('utf8') : { base64: b.toString('base64') };
  };
  const resp = (a: CapturedResponse) => ({ ...a, headers: r.headers(a.headers), body: body(a.body, a.headers) });
  return {
    ...e,
    request: { ...e.request, headers: r.headers(e.request.headers), body: body(e.request.body, e.request.headers) },
    primary: resp(e.primary),
    shadow: 'error' in e.shadow ? e.shadow : resp(e.shadow),
    ...(e.noisePair ? { noisePair: { first: resp(e.noisePair.first), second: resp(e.noisePair.second), changed: e.noisePair.changed } } : {}),
  };
}

function isUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}
