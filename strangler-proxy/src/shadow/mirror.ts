import crypto from 'node:crypto';
import type { Dispatcher } from 'undici';
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
      return;
    }
    this.waiting.push(job);
    this.pump();
  }

  /** Stops taking copies; those in flight finish or time out. */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
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
    const started = performance.now();
    let shadow: ShadowExchange['shadow'];
    try {
      const res = await job.dispatcher.request({
        method: job.method as Dispatcher.HttpMethod,
        path: job.path,
        headers: job.headers,
        body: job.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
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
      shadow = { status: res.statusCode, headers: res.headers as Record<string, string | string[]>, body: Buffer.concat(chunks), truncated, ms: performance.now() - started };
      this.metrics.shadow.labels(job.route, 'completed').inc();
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      this.metrics.shadow.labels(job.route, timeout ? 'timeout' : 'error').inc();
      shadow = { error: timeout ? `no answer within ${this.options.timeoutMs} ms` : (err as Error).message, ms: performance.now() - started };
    }
    const primary = job.primary;
    const exchange: ShadowExchange = {
      id: crypto.randomUUID(),
      at: new Date().toISOString(),
      route: job.route,
      tenant: job.tenant,
      service: job.service,
      request: { method: job.method, path: job.path, headers: headerRecord(job.headers), body: job.body },
      primary,
      shadow,
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
