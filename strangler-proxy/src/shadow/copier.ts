import crypto from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import { changedBetween, type ChangeMark } from '../parity/change-witness';
import type { CapturedResponse, NoisePair, ShadowExchange } from './exchange';
import type { CopyJob, CopyOptions, CopyOutcome } from './protocol';

/**
 * Sends shadow copies (in the shadow thread): a fixed number in flight, the
 * rest waiting in order, a timeout and a body cap per copy, one keep-alive
 * pool per origin. Each finished copy becomes a ShadowExchange (with a pair
 * of monolith answers when the job asks for one) handed to `done`.
 * The queue's bound is kept by the data plane, which counts what it sent.
 */
export class ShadowCopier {
  private readonly waiting: Array<{ job: CopyJob; body: Buffer | null; primaryBody: Buffer }> = [];
  private running = 0;
  private readonly pools = new Map<string, Pool>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private options: CopyOptions,
    private readonly done: (job: CopyJob, exchange: ShadowExchange, outcome: CopyOutcome) => void,
    /** The tenant's position now (ChangeWitness.mark). */
    private readonly mark: (tenant: string) => Promise<ChangeMark>,
  ) {}

  reconfigure(options: CopyOptions): void {
    this.options = options;
    this.pump();
  }

  /** Resolves once no copy is running or waiting. */
  whenIdle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** A job with its bodies, out of the ring. */
  submit(job: CopyJob, body: Buffer | null, primaryBody: Buffer): void {
    this.waiting.push({ job, body, primaryBody });
    this.pump();
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      this.running++;
      void this.send(next.job, next.body, next.primaryBody).finally(() => {
        this.running--;
        this.pump();
      });
    }
    if (this.running === 0 && this.waiting.length === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async send(job: CopyJob, body: Buffer | null, primaryBody: Buffer): Promise<void> {
    const copy = await this.fetch(job.origin, job.method, job.path, job.headers, body);
    const outcome: CopyOutcome = 'error' in copy ? (copy.starved ? 'starved' : copy.timeout ? 'timeout' : 'error') : 'completed';
    const shadow: ShadowExchange['shadow'] = 'error' in copy ? { error: copy.error, ms: copy.ms } : copy;
    let noisePair: NoisePair | undefined;
    if (job.again) {
      // Both asks between two looks at the tenant's position: a pair across a change teaches nothing.
      const before = await this.mark(job.tenant);
      const first = await this.fetch(job.again.origin, job.method, job.path, job.again.headers, null);
      const second = 'error' in first ? first : await this.fetch(job.again.origin, job.method, job.path, job.again.headers, null);
      if (!('error' in first) && !('error' in second)) noisePair = { first, second, changed: changedBetween(before, await this.mark(job.tenant)) };
    }
    const exchange: ShadowExchange = {
      id: crypto.randomUUID(),
      at: new Date().toISOString(),
      route: job.route,
      tenant: job.tenant,
      service: job.service,
      request: { method: job.method, path: job.path, headers: headerRecord(job.headers), body },
      primary: { ...job.primary, body: primaryBody },
      shadow,
      ...(noisePair ? { noisePair } : {}),
    };
    this.done(job, exchange, outcome);
  }

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, { connections: this.options.concurrency, pipelining: 1, keepAliveTimeout: 4_000, connect: { timeout: this.options.timeoutMs } });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** One copy, capped and timed; never throws. */
  private fetch(origin: string, method: string, path: string, headers: readonly string[], body: Buffer | null): Promise<CopyResult> {
    return new Promise((resolve) => {
      const call = new CopyCall(this.options.timeoutMs, this.options.maxBodyBytes, resolve);
      try {
        this.pool(origin).dispatch({ method: method as Dispatcher.HttpMethod, path, headers: headers as string[], body }, call);
      } catch (err) {
        call.fail(err as Error);
      }
    });
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

type CopyResult = CapturedResponse | { error: string; timeout: boolean; starved?: true; ms: number };

/**
 * How late a copy's timer may fire before the thread counts as starved: the
 * shadow thread runs at a low priority by design, and on a busy host its
 * timers can fire seconds late, after the target's answer may well have
 * arrived unread. Such a timeout says nothing about the target.
 */
export function starvedAfter(timeoutMs: number): number {
  return Math.max(100, timeoutMs / 10);
}

/**
 * One shadow copy as an undici dispatch handler: the answer collected up to
 * the body cap, one timer for the whole exchange.
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
      const ms = performance.now() - this.started;
      const late = ms - timeoutMs;
      this.finish(
        late > starvedAfter(timeoutMs)
          ? { error: `the shadow thread could not run for ${Math.round(late)} ms past the ${timeoutMs} ms deadline (busy host); the target is not judged`, timeout: true, starved: true, ms }
          : { error: `no answer within ${timeoutMs} ms`, timeout: true, ms },
      );
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
