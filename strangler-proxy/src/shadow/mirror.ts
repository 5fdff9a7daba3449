import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CircuitBreaker, DEFAULT_BREAKER, type BreakerOptions } from '../forward/breaker';
import type { ProxyMetrics } from '../metrics';
import { WriteLedger } from '../parity/change-witness';
import type { RouteNoise } from '../parity/noise';
import type { CapturedChunks } from './exchange';
import type { CopyJob, CopyOutcome, CopyReport, FromThread, ThreadConfig, ToThread } from './protocol';
import { unpackReports } from './report-codec';
import { BodyRing } from './ring';

/** A copy as the data plane hands it over: a CopyJob with the bodies still in the data plane's buffers, before numbering. */
export interface MirrorJob extends Omit<CopyJob, 'seq' | 'bodies' | 'requestBodyLength' | 'primary'> {
  readonly body: Buffer | null;
  /** When the primary was asked (ms since the epoch): the copy's figures count at that time. */
  readonly requestedAt: number;
  /** The primary's answer, captured as it streamed to the client. */
  readonly primary: CapturedChunks;
  /** The service's breaker when this copy is its half-open probe: told how the copy went. */
  readonly breaker?: CircuitBreaker;
}

/** What the data plane keeps of a copy handed over, until its report comes back. */
interface InFlight {
  readonly route: string;
  readonly tenant: string;
  readonly service: string;
  /** When the primary was asked (ms since the epoch). */
  readonly at: number;
  /** The service's breaker when the copy is its half-open probe. */
  readonly breaker: CircuitBreaker | null;
}

export interface MirrorEvents {
  /** A copy finished: what it adds to the parity figures, and a sampled mismatch; `requestedAt` is when the primary was asked (ms since the epoch). */
  report(r: CopyReport, requestedAt: number): void;
  /** The thread stopped unexpectedly, or could not lower its priority. */
  warn(message: string, detail: Record<string, unknown>): void;
}

export type Admission = 'yes' | 'dropped_queue_full' | 'dropped_buffer_full' | 'skipped_shadow_failing' | 'skipped_thread_down';

/** After the thread stops unexpectedly, copies are skipped this long before it is started again. */
const RESTART_AFTER_MS = 1000;
/**
 * Copies wait this long (or until there are HANDOVER_BATCH of them) to go to
 * the thread together: one postMessage and one wake-up of the thread per
 * batch instead of per copy. A copy is off the client's path; its own
 * latency is timed from when the thread sends it.
 */
const HANDOVER_MS = 5;
const HANDOVER_BATCH = 64;
const QUERY_TIMEOUT_MS = 2000;

/**
 * The data plane's side of shadow copies. Copies are sent, compared and kept
 * by a thread of their own at a low priority (src/shadow/thread.ts): a copy
 * costs the primary a copy of its bodies into shared memory and a share of
 * one postMessage (batched every few ms), after the client has its answer. Here:
 * the queue's bound (copies handed over and not yet reported), a breaker per
 * service for copies that keep getting no answer (apart from the primaries'
 * breaker), the counts, and the half-open probes. The thread starts with
 * the first copy; if it ever stops, the copies it held are counted `lost`
 * and a new one starts a second later.
 */
export class ShadowMirror {
  private thread: Worker | null = null;
  private downSince = 0;
  private closed = false;
  private seq = 0;
  private queryId = 0;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly queries = new Map<number, (data: unknown) => void>();
  private readonly copyBreakers = new Map<string, CircuitBreaker>();
  private closing: Promise<void> | null = null;
  private readonly ring: BodyRing;
  /** Copies written to the ring and not yet posted to the thread, in ring order. */
  private outbox: CopyJob[] = [];
  private outboxTimer: NodeJS.Timeout | null = null;
  private readonly flushOutbox = () => this.handOver();
  private onClosed: (() => void) | null = null;
  /** The thread's id and nice value once it has started (null where the OS gives none). */
  threadInfo: { tid: number | null; priority: number | null } | null = null;

  constructor(
    private config: ThreadConfig,
    private priority: number,
    private readonly metrics: ProxyMetrics,
    private readonly events: MirrorEvents,
    private readonly breakerOptions: (service: string) => BreakerOptions = () => DEFAULT_BREAKER,
    ringBytes = 32 * 2 ** 20,
    /** The writes the data plane forwards, per tenant: the thread reads them to tell a pair of monolith answers across a change. */
    private readonly ledger: WriteLedger = new WriteLedger(),
  ) {
    this.ring = new BodyRing(ringBytes);
  }

  reconfigure(config: ThreadConfig, priority: number): void {
    this.config = config;
    this.priority = priority;
    this.post({ t: 'config', config, priority });
  }

  /** Copies handed to the thread and not yet reported. */
  get depth(): number {
    return this.inFlight.size;
  }

  /**
   * Whether a copy for this service submitted now would be taken: there is
   * room, its copies are not failing, the thread is up. Otherwise the caller
   * counts why and skips the copy before capturing anything for it.
   */
  admits(service: string): Admission {
    if (this.closed || this.inFlight.size >= this.config.copies.queue + this.config.copies.concurrency) return 'dropped_queue_full';
    if (this.thread === null && performance.now() - this.downSince < RESTART_AFTER_MS) return 'skipped_thread_down';
    return this.copyBreaker(service).admits() ? 'yes' : 'skipped_shadow_failing';
  }

  submit(job: MirrorJob): void {
    // Asked again: the queue or the breaker may have changed while the primary was answered.
    const admitted = this.admits(job.service);
    if (admitted !== 'yes' || !this.copyBreaker(job.service).allow()) {
      this.metrics.shadow.inc(job.route, admitted === 'yes' ? 'skipped_shadow_failing' : admitted);
      job.breaker?.release();
      return;
    }
    if (this.thread === null) this.start();
    const p = job.primary;
    // Both bodies into the ring as one region (no allocation); a full ring drops the copy, counted.
    const bodies = this.ring.write(job.body ? [job.body, ...p.chunks] : p.chunks, (job.body?.length ?? 0) + p.size);
    if (bodies === null) {
      this.metrics.shadow.inc(job.route, 'dropped_buffer_full');
      job.breaker?.release();
      this.copyBreaker(job.service).release(); // a half-open probe that was never sent
      return;
    }
    const seq = ++this.seq;
    this.inFlight.set(seq, { route: job.route, tenant: job.tenant, service: job.service, at: job.requestedAt, breaker: job.breaker ?? null });
    const copy: CopyJob = {
      seq,
      route: job.route,
      tenant: job.tenant,
      service: job.service,
      origin: job.origin,
      method: job.method,
      path: job.path,
      headers: job.headers,
      bodies,
      requestBodyLength: job.body?.length ?? null,
      primary: { status: p.status, headers: p.headers, truncated: p.truncated, ms: p.ms },
      ...(job.again ? { again: job.again } : {}),
    };
    this.outbox.push(copy);
    if (this.outbox.length >= HANDOVER_BATCH) this.handOver();
    else this.outboxTimer ??= setTimeout(this.flushOutbox, HANDOVER_MS);
    this.metrics.shadow.inc(job.route, 'sent');
  }

  /** Posts the copies waiting in the outbox to the thread, in one message. */
  private handOver(): void {
    if (this.outboxTimer !== null) clearTimeout(this.outboxTimer);
    this.outboxTimer = null;
    if (this.outbox.length === 0) return;
    const jobs = this.outbox;
    this.outbox = [];
    this.thread?.postMessage({ t: 'jobs', jobs } satisfies ToThread);
  }

  /** The last exchanges the thread kept (GET /shadow/recent), as JSON. */
  recent(): Promise<unknown[]> {
    return this.query({ what: 'recent' }, []);
  }

  /** What the parity engine has learned as noise, per route. */
  learnedNoise(routes: readonly string[]): Promise<RouteNoise[]> {
    return this.query({ what: 'noise', routes }, []);
  }

  /** Stops taking copies; those in flight finish or time out, then the thread ends. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      const thread = this.thread;
      if (!thread) return;
      const done = new Promise<void>((resolve) => (this.onClosed = resolve));
      this.handOver();
      thread.postMessage({ t: 'close' } satisfies ToThread);
      const timer = setTimeout(() => void thread.terminate(), this.config.copies.timeoutMs * 2 + 1000);
      await done;
      clearTimeout(timer);
    })();
    return this.closing;
  }

  private start(): Worker {
    this.ring.reset(); // a thread that died released nothing
    const thread = new Worker(path.join(__dirname, 'thread-entry.cjs'), { workerData: { ring: this.ring.shared, ledger: this.ledger.buffer } });
    thread.unref();
    thread.on('message', (m: FromThread) => this.received(m));
    thread.on('error', (err) => this.events.warn('the shadow thread failed', { err }));
    thread.on('exit', (code) => this.exited(thread, code));
    thread.postMessage({ t: 'config', config: this.config, priority: this.priority } satisfies ToThread);
    this.thread = thread;
    return thread;
  }

  private received(m: FromThread): void {
    switch (m.t) {
      case 'reports':
        unpackReports(m.batch, this.settleReport);
        return;
      case 'answer':
        this.queries.get(m.id)?.(m.data);
        return;
      case 'ready':
        this.threadInfo = { tid: m.tid, priority: m.priority };
        if (m.priorityError) this.events.warn('the shadow thread could not set its priority (shadow.threadPriority); it keeps the one it had', { wanted: this.priority, reason: m.priorityError });
        return;
      case 'warn':
        this.events.warn(m.message, m.detail);
        return;
      case 'closed':
        return;
    }
  }

  private readonly settleReport = (seq: number, outcome: CopyOutcome, status: number, counts: CopyReport['counts'], mismatch: CopyReport['mismatch']): void => {
    const job = this.inFlight.get(seq);
    if (!job) return;
    this.inFlight.delete(seq);
    this.settle(job, { seq, route: job.route, tenant: job.tenant, service: job.service, outcome, status, counts, ...(mismatch ? { mismatch } : {}) });
  };

  private settle(job: InFlight, r: CopyReport): void {
    if (r.outcome === 'starved') {
      // The thread, not the service, missed the deadline: neither breaker learns anything from it.
      job.breaker?.release();
      this.copyBreaker(r.service).release();
    } else {
      const answered = r.outcome === 'completed';
      if (job.breaker) {
        if (!answered || r.status >= 500) job.breaker.failure();
        else job.breaker.success();
      }
      // The copies' own breaker counts only copies that got no answer (timeouts, refused connections):
      // a 5xx is a fast answer, and evidence the parity gates need.
      if (answered) this.copyBreaker(r.service).success();
      else this.copyBreaker(r.service).failure();
    }
    this.metrics.shadow.inc(r.route, r.outcome);
    this.events.report(r, job.at);
  }

  private exited(thread: Worker, code: number): void {
    if (this.thread !== thread) return;
    this.thread = null;
    this.downSince = performance.now();
    // Copies not yet posted lie in a ring the next thread starts afresh: they are lost with the rest.
    if (this.outboxTimer !== null) clearTimeout(this.outboxTimer);
    this.outboxTimer = null;
    this.outbox = [];
    for (const job of this.inFlight.values()) {
      this.metrics.shadow.inc(job.route, 'lost');
      job.breaker?.release();
      this.copyBreaker(job.service).release();
    }
    this.inFlight.clear();
    for (const answer of this.queries.values()) answer(undefined);
    this.queries.clear();
    if (this.closed) this.onClosed?.();
    else this.events.warn('the shadow thread stopped; its copies in flight are counted lost, and a new thread starts with the next copy after a second', { code });
  }

  private query<T>(q: { what: 'recent' } | { what: 'noise'; routes: readonly string[] }, none: T): Promise<T> {
    const thread = this.thread;
    if (!thread) return Promise.resolve(none);
    const id = ++this.queryId;
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => answer(undefined), QUERY_TIMEOUT_MS);
      const answer = (data: unknown) => {
        clearTimeout(timer);
        this.queries.delete(id);
        resolve(data === undefined ? none : (data as T));
      };
      this.queries.set(id, answer);
      thread.postMessage({ t: 'query', id, ...q } as ToThread);
    });
  }

  private post(m: ToThread): void {
    this.thread?.postMessage(m);
  }

  private copyBreaker(service: string): CircuitBreaker {
    let b = this.copyBreakers.get(service);
    if (!b) {
      b = new CircuitBreaker(this.breakerOptions(service));
      this.copyBreakers.set(service, b);
    }
    return b;
  }
}
