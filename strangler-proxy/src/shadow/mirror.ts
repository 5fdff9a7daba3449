import crypto from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { CircuitBreaker } from '../forward/breaker';
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
 * waits for any of it.
 */
export class ShadowMirror {
  private readonly waiting: ShadowJob[] = [];
  private running = 0;
  private closed = false;

  constructor(
    private options: MirrorOptions,
    private readonly sinks: readonly ShadowSink[],
    private readonly metrics: ProxyMetrics,
  ) {}

  reconfigure(options: MirrorOptions): void {
    this.options = options;
    this.pump();
  }

  get depth(): number {
    return this.waiting.length;
  }

  submit(job: ShadowJob): void {
    if (this.closed || this.waiting.length >= this.options.queue) {
      this.metrics.shadow.labels(job.route, 'dropped_queue_full').inc();
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
    let primaryAgain: CapturedResponse | undefined;
    if (job.again) {
      const again = await this.fetch(job.again.dispatcher, job.method, job.path, job.again.headers, null);
      if (!('error' in again)) primaryAgain = again;
    }
    const primary = job.primary;
    this.deliver({ job, primary, shadow, primaryAgain });
  }

  /** One copy, capped and timed; never throws. */
  private async fetch(dispatcher: Dispatcher, method: string, path: string, headers: string[], body: Buffer | null): Promise<CapturedResponse | { error: string; timeout: boolean; ms: number }> {
    const started = performance.now();
    try {
      const res = await dispatcher.request({ method: method as Dispatcher.HttpMethod, path, headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size + chunk.length > this.options.maxBodyBytes) {
          truncated = true;
          res.body.destroy();
          break;
        }
        chunks.push(chunk);
        size += chunk.length;
      }
      return { status: res.statusCode, headers: res.headers as Record<string, string | string[]>, body: Buffer.concat(chunks), truncated, ms: performance.now() - started };
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      return { error: timeout ? `no answer within ${this.options.timeoutMs} ms` : (err as Error).message, timeout, ms: performance.now() - started };
    }
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
