import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { errorBody } from '../errors';
import { responseHeaders } from './headers';

export interface Attempt {
  readonly dispatcher: Dispatcher;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: Readable | Buffer | null;
}

/** Why an attempt failed before anything reached the client. */
export type FailureReason = 'connect' | 'timeout' | 'status_5xx' | 'socket';

export type Outcome =
  /** The upstream's response was (or is being) sent to the client. */
  | { readonly kind: 'sent'; readonly status: number }
  /** Nothing reached the client and the caller may try elsewhere. */
  | { readonly kind: 'retry'; readonly reason: FailureReason; readonly status: number | null; readonly error: Error | null }
  /** The proxy answered with its own error, or the client went away. */
  | { readonly kind: 'failed'; readonly status: number; readonly error: Error | null };

export interface ForwardOptions {
  readonly via: string;
  /** Sent back as X-Request-Id unless the upstream set its own. */
  readonly requestId: string;
  /** Asked before falling back: may this failure be retried elsewhere? */
  readonly retryable: (reason: FailureReason) => boolean;
  /** A Set-Cookie line added to the answer, made when it starts (read-your-writes marks a client's write); must not throw. */
  readonly setCookie?: () => string;
  /** Sees the response as it streams (for shadow comparison); must not throw. */
  readonly observe?: {
    head(status: number, headers: Record<string, string | string[] | undefined>): void;
    chunk(chunk: Buffer): void;
    end(): void;
  };
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export function classify(err: Error): FailureReason {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return 'socket';
}

/**
 * Sends one request upstream and streams the answer straight into `res`,
 * with backpressure both ways. Failures before the first byte to the client
 * are either handed back (retry) or answered 502/504 here.
 */
export function forwardOnce(res: ServerResponse, attempt: Attempt, options: ForwardOptions): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => forward(res, attempt, options, resolve));
}

/** forwardOnce with a callback: `done` is called once, with the outcome (no promise made per request). */
export function forward(res: ServerResponse, attempt: Attempt, options: ForwardOptions, done: (o: Outcome) => void): void {
  attempt.dispatcher.dispatch({ path: attempt.path, method: attempt.method, headers: attempt.headers, body: attempt.body }, new ForwardCall(res, options, done));
}

/**
 * One forwarded request as undici's dispatch handler. A class, not a set of
 * closures: this runs for every request, and named closures made per
 * request each cost a property definition under tsx (esbuild keepNames).
 */
class ForwardCall implements Dispatcher.DispatchHandler {
  private settled = false;
  private controller: Dispatcher.DispatchController | null = null;
  private readonly clientClosed: () => void;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: ForwardOptions,
    private readonly resolve: (o: Outcome) => void,
  ) {
    this.clientClosed = this.onClientClose.bind(this);
    res.on('close', this.clientClosed);
  }

  private settle(o: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.res.off('close', this.clientClosed);
    this.resolve(o);
  }

  /** The client left: stop reading from the upstream too. */
  private onClientClose(): void {
    if (this.res.writableFinished) return;
    this.settle({ kind: 'failed', status: 499, error: null });
    this.controller?.abort(new Error('client closed the connection'));
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
  }

  onResponseStart(c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.settled) return;
    if (status < 200) return; // 1xx informational: Node answers 100-continue itself
    const { res, options } = this;
    if (status >= 500 && options.retryable('status_5xx')) {
      // Settle first: abort() calls onResponseError synchronously.
      this.settle({ kind: 'retry', reason: 'status_5xx', status, error: null });
      c.abort(new Error(`upstream answered ${status}`));
      return;
    }
    options.observe?.head(status, headers);
    const out = responseHeaders(headers, options.via);
    out['x-request-id'] ??= options.requestId;
    if (options.setCookie !== undefined) addCookie(out, options.setCookie());
    res.writeHead(status, out);
    if (res.writableNeedDrain) c.pause();
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    this.options.observe?.chunk(chunk);
    if (!this.res.write(chunk)) {
      c.pause();
      this.res.once('drain', () => c.resume());
    }
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.options.observe?.end();
    this.res.end();
    this.settle({ kind: 'sent', status: this.res.statusCode });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return;
    const { res, options } = this;
    if (res.headersSent) {
      // Mid-body: the only honest signal left is to cut the connection.
      res.destroy(err);
      this.settle({ kind: 'failed', status: res.statusCode, error: err });
      return;
    }
    const reason = classify(err);
    if (options.retryable(reason)) {
      this.settle({ kind: 'retry', reason, status: null, error: err });
      return;
    }
    const timeout = reason === 'timeout';
    const status = timeout ? 504 : 502;
    const out: Record<string, string | string[]> = { 'content-type': 'application/json', via: `1.1 ${options.via}`, 'x-request-id': options.requestId };
    // A write that timed out may have been applied all the same.
    if (options.setCookie !== undefined) addCookie(out, options.setCookie());
    res.writeHead(status, out);
    res.end(
      errorBody(
        timeout ? 'STR_ERR_PROXY_UPSTREAM_TIMEOUT' : 'STR_ERR_PROXY_UPSTREAM_UNAVAILABLE',
        timeout ? 'the upstream did not answer in time' : 'the upstream could not be reached',
      ),
    );
    this.settle({ kind: 'failed', status, error: err });
  }
}

/** One more Set-Cookie line beside the upstream's own. */
function addCookie(out: Record<string, string | string[]>, line: string): void {
  const had = out['set-cookie'];
  out['set-cookie'] = had === undefined ? line : Array.isArray(had) ? [...had, line] : [had, line];
}
