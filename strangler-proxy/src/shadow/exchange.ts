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
  /** A second answer of the monolith to the same read (sampled), to learn noise in flight. */
  readonly primaryAgain?: CapturedResponse;
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

/** A JSON-friendly view: bodies as UTF-8 text when they are, base64 otherwise. */
export function exchangeJson(e: ShadowExchange): unknown {
  const body = (b: Buffer | null) => (b === null ? null : isUtf8(b) ? b.toString('utf8') : { base64: b.toString('base64') });
  const resp = (r: ShadowExchange['shadow']) => ('error' in r ? r : { ...r, body: body(r.body) });
  return { ...e, request: { ...e.request, body: body(e.request.body) }, primary: resp(e.primary), shadow: resp(e.shadow) };
}

function isUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}
