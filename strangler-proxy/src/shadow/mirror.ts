import crypto from 'node:crypto';
import type { Dispatcher } from 'undici';
import { CircuitBreaker, DEFAULT_BREAKER, type BreakerOptions } from '../forward/breaker';
import type { ProxyMetrics } from '../metrics';
import type { CapturedResponse, ShadowExchange, ShadowSink } from './exchange';

export interface MirrorOptions {
  readonly queue: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
}

export interface ShadowJob {
  readonly route: string;
  readonly tenant: string;
  readonly service: string;
  readonly dispatcher: Dispatcher;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer | null;
  /** The primary's answer, captured as it streamed to the client. */
  readonly primary: CapturedResponse;
  /** The service's breaker when this copy is its half-open probe: told how the copy went. */
  readonly breaker?: CircuitBreaker;
  /** Ask the monolith again (a read, sampled) so the parity engine can learn its noise. */
  readonly again?: { readonly dispatcher: Dispatcher; readonly headers: string[] };
}

/**
 * Sends shadow copies off the request path, after the primary answered: a
 * bounded queue, a fixed number in flight, a timeout per copy. When the
 * queue is full the copy is dropped and counted; the client's request never
 * waits for any of it. Copies to a service that keeps not answering them
 * (a shadow target that hangs or refuses connections) stop for a while: a
 * breaker of their own per service, apart from the one the primaries use,
 * with the service's breaker settings.
 */
export class ShadowMirror {
  private readonly waiting: ShadowJob[] = [];
  private running = 0;
  private closed = false;
  private readonly copyBreakers = new Map<string, CircuitBreaker>();

  constructor(
    private options: MirrorOptions,
    private readonly sinks: readonly ShadowSink[],
    private readonly metrics: ProxyMetrics,
    private readonly breakerOptions: (service: string) => BreakerOptions = () => DEFAULT_BREAKER,
  ) {}

  reconfigure(options: MirrorOptions): void {
    this.options = options;
    this.pump();
  }

  get depth(): number {
    return this.waiting.length;
  }

  /**
   * Whether a copy for this service submitted now would be queued: there is
   * room, and its copies are not failing. Otherwise the caller counts why
   * and skips the copy before capturing anything for it.
   */
  admits(service: string): 'yes' | 'dropped_queue_full' | 'skipped_shadow_failing' {
    if (this.closed || this.waiting.length >= this.options.queue) return 'dropped_queue_full';
    return this.copyBreaker(service).admits() ? 'yes' : 'skipped_shadow_failing';
  }

  submit(job: ShadowJob): void {
    if (this.closed || this.waiting.length >= this.options.queue) {
      this.metrics.shadow.labels(job.route, 'dropped_queue_full').inc();
      job.breaker?.release();
      return;
    }
    if (!this.copyBreaker(job.service).allow()) {
      this.metrics.shadow.labels(job.route, 'skipped_shadow_failing').inc();
      job.breaker?.release();
      return;
    }
    this.waiting.push(job);
    this.pump();
  }

  /** Stops taking copies; those in flight finish or time out. */
  close(): void {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.breaker?.release();
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      this.metrics.shadow.labels(job.route, 'sent').inc();
      void this.send(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async send(job: ShadowJob): Promise<void> {
    const copy = await this.fetch(job.dispatcher, job.method, job.path, job.headers, job.body);
    let shadow: ShadowExchange['shadow'];
    if ('error' in copy) {
      this.metrics.shadow.labels(job.route, copy.timeout ? 'timeout' : 'error').inc();
      shadow = { error: copy.error, ms: copy.ms };
    } else {
      this.metrics.shadow.labels(job.route, 'completed').inc();
      shadow = copy;
    }
    if ('error' in shadow || shadow.status >= 500) job.breaker?.failure();
    else job.breaker?.success();
    // The copies' own breaker counts only copies that got no answer (timeouts, refused connections):
    // a 5xx is a fast answer, and evidence the parity gates need.
    if ('error' in shadow) this.copyBreaker(job.service).failure();
    else this.copyBreaker(job.service).success();
    let primaryAgain: CapturedResponse | undefined;
    if (job.again) {
      const again = await this.fetch(job.again.dispatcher, job.method, job.path, job.again.headers, null);
      if (!('error' in again)) primaryAgain = again;
    }
    const primary = job.primary;
    this.deliver({ job, primary, shadow, primaryAgain });
  }

  private copyBreaker(service: string): CircuitBreaker {
    let b = this.copyBreakers.get(service);
    if (!b) {
      b = new CircuitBreaker(this.breakerOptions(service));
      this.copyBreakers.set(service, b);
    }
    return b;
  }

  /** One copy, capped and timed; never throws. */
  private fetch(dispatcher: Dispatcher, method: string, path: string, headers: string[], body: Buffer | null): Promise<CopyResult> {
    return new Promise((resolve) => {
      const call = new CopyCall(this.options.timeoutMs, this.options.maxBodyBytes, resolve);
      try {
        dispatcher.dispatch({ method: method as Dispatcher.HttpMethod, path, headers, body }, call);
      } catch (err) {
        call.fail(err as Error);
      }
    });
  }

  private deliver({ job, primary, shadow, primaryAgain }: { job: ShadowJob; primary: CapturedResponse; shadow: ShadowExchange['shadow']; primaryAgain: CapturedResponse | undefined }): void {
    const exchange: ShadowExchange = {
      id: crypto.randomUUID(),
      at: new Date().toISOString(),
      route: job.route,
      tenant: job.tenant,
      service: job.service,
      request: { method: job.method, path: job.path, headers: headerRecord(job.headers), body: job.body },
      primary,
      shadow,
      ...(primaryAgain ? { primaryAgain } : {}),
    };
    for (const sink of this.sinks) {
      try {
        sink.record(exchange);
      } catch {
        // A sink's failure must never reach the data plane.
      }
    }
  }
}

/** Credentials never leave the request path: recorded exchanges show that they were there, not what they were. */
const REDACTED = new Set(['authorization', 'proxy-authorization', 'cookie']);

function headerRecord(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!.toLowerCase();
    const v = REDACTED.has(k) ? '[redacted]' : flat[i + 1]!;
    out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
  }
  return out;
}

type CopyResult = CapturedResponse | { error: string; timeout: boolean; ms: number };

/**
 * One shadow copy as an undici dispatch handler: the answer collected up to
 * the body cap, one timer for the whole exchange. (Cheaper per copy than
 * request() with an AbortSignal and a body stream, which matters: copies
 * share the proxy's CPU with the primaries.)
 */
class CopyCall implements Dispatcher.DispatchHandler {
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private controller: Dispatcher.DispatchController | null = null;
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private done = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly maxBodyBytes: number,
    private readonly resolve: (r: CopyResult) => void,
  ) {
    this.timer = setTimeout(() => {
      this.finish({ error: `no answer within ${timeoutMs} ms`, timeout: true, ms: performance.now() - this.started });
      this.controller?.abort(new Error('shadow copy timed out'));
    }, timeoutMs);
  }

  fail(err: Error): void {
    this.finish({ error: err.message, timeout: false, ms: performance.now() - this.started });
  }

  private finish(r: CopyResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.resolve(r);
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
    if (this.done) c.abort(new Error('shadow copy timed out'));
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = status;
    this.headers = headers as Record<string, string | string[]>;
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    if (this.size + chunk.length > this.maxBodyBytes) {
      this.finish({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, this.size), truncated: true, ms: performance.now() - this.started });
      c.abort(new Error('shadow copy over the body cap'));
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  onResponseEnd(): void {
    this.finish({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, this.size), truncated: false, ms: performance.now() - this.started });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.fail(err);
  }
}
