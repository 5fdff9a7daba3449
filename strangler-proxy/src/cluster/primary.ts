import { randomUUID } from 'node:crypto';
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import type { Logger } from 'pino';
import { ProxyError } from '../errors';
import { GATHER_TIMEOUT_MS, ignoreSendError, isStranglerMessage, REPLICA_ID_ENV, type PrimaryToWorker, type WorkerToPrimary } from './protocol';

export interface ClusterOptions {
  readonly workers: number;
  readonly host: string;
  readonly port: number;
  readonly adminHost: string;
  readonly adminPort: number;
  /** How long a worker may drain on SIGTERM before it is killed. */
  readonly drainMs: number;
  readonly logger: Logger;
}

/** Environment a worker is forked with: the ports it serves (the same for all; port 0 is resolved first). */
export const WORKER_PORT_ENV = 'STRANGLER_PROXY_WORKER_PORT';
export const WORKER_ADMIN_PORT_ENV = 'STRANGLER_PROXY_WORKER_ADMIN_PORT';

const RESTART_MS = [1000, 2000, 5000, 10_000, 30_000];

/**
 * The cluster's primary: it serves nothing itself. It forks the workers (each
 * a whole proxy replica on the shared ports), restarts one that dies (after
 * 1 s, backing off to 30 s while they keep dying young), relays the workers'
 * parity counts and admin questions between them, and on stop() asks every
 * worker to drain and waits for them.
 */
export class ProxyCluster {
  private readonly workers = new Map<number, { worker: Worker; ready: boolean; startedAt: number }>();
  /** Gathers in progress, by the primary's own id (the asker's id goes back with the answer). */
  private readonly gathers = new Map<number, { asker: Worker; id: number; waiting: Set<number>; results: Array<{ worker: string; data: unknown }>; timer: NodeJS.Timeout }>();
  private gatherSeq = 0;
  private stopping: Promise<void> | null = null;
  private failures = 0;
  private url = '';
  private adminUrl = '';
  private readonly replica = randomUUID();

  private constructor(private readonly o: ClusterOptions) {}

  /** Forks the workers and resolves once every one of them serves; rejects (and stops them) if one dies first. */
  static async start(o: ClusterOptions): Promise<ProxyCluster> {
    if (!cluster.isPrimary) throw new ProxyError('STR_ERR_PROXY_CLUSTER', 'a cluster worker cannot start a cluster of its own');
    // Port 0 in several workers would be one shared ephemeral port per address and port: both servers
    // would get the same one. Resolve it here, once, so that each server has a port of its own.
    const c = new ProxyCluster({ ...o, port: o.port || (await freePort(o.host)), adminPort: o.adminPort || (await freePort(o.adminHost)) });
    try {
      await Promise.all(Array.from({ length: o.workers }, () => c.fork()));
    } catch (err) {
      await c.stop();
      throw err;
    }
    o.logger.info({ url: c.url, admin: c.adminUrl, workers: o.workers, pid: process.pid }, 'proxy cluster listening');
    return c;
  }

  private fork(): Promise<void> {
    const worker = cluster.fork({ [WORKER_PORT_ENV]: String(this.o.port), [WORKER_ADMIN_PORT_ENV]: String(this.o.adminPort), [REPLICA_ID_ENV]: this.replica });
    const entry = { worker, ready: false, startedAt: Date.now() };
    this.workers.set(worker.id, entry);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        if (!isStranglerMessage(m)) return;
        const msg = m as WorkerToPrimary;
        if (msg.t === 'strangler:ready') {
          entry.ready = true;
          this.url = msg.url;
          this.adminUrl = msg.adminUrl;
          resolve();
          return;
        }
        this.onMessage(worker, msg);
      });
      // Anything else a worker's process reports is logged, never left to crash the primary.
      worker.on('error', (err) => this.o.logger.warn({ err, worker: worker.id }, 'proxy worker channel error'));
      worker.on('exit', (code, signal) => {
        this.workers.delete(worker.id);
        this.forget(worker.id);
        if (!entry.ready) {
          reject(new ProxyError('STR_ERR_PROXY_CLUSTER', `proxy worker ${worker.id} exited (${signal ?? `code ${code}`}) before it served: see its error above`));
          return;
        }
        if (this.stopping) return;
        // A worker that lived a minute starts the backoff over.
        this.failures = Date.now() - entry.startedAt > 60_000 ? 0 : this.failures + 1;
        const wait = RESTART_MS[Math.min(this.failures, RESTART_MS.length - 1)]!;
        this.o.logger.error({ worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: wait }, 'proxy worker died; starting another');
        setTimeout(() => {
          if (this.stopping) return;
          this.fork().then(
            () => this.o.logger.info({ workers: this.workers.size }, 'proxy worker replaced'),
            (err: Error) => this.o.logger.error({ err }, 'a replacement proxy worker did not start'),
          );
        }, wait).unref();
      });
    });
  }

  private onMessage(from: Worker, m: WorkerToPrimary): void {
    switch (m.t) {
      case 'strangler:share':
        for (const { worker, ready } of this.workers.values()) if (ready && worker !== from) send(worker, { t: 'strangler:share', deltas: m.deltas });
        return;
      case 'strangler:gather': {
        const key = ++this.gatherSeq;
        const others = [...this.workers.values()].filter((w) => w.ready && w.worker !== from).map((w) => w.worker);
        const g = { asker: from, id: m.id, waiting: new Set(others.map((w) => w.id)), results: [] as Array<{ worker: string; data: unknown }>, timer: setTimeout(() => this.answer(key), GATHER_TIMEOUT_MS) };
        this.gathers.set(key, g);
        for (const w of others) send(w, { t: 'strangler:collect', id: key, ask: m.ask });
        if (others.length === 0) this.answer(key);
        return;
      }
      case 'strangler:collected': {
        const g = this.gathers.get(m.id);
        if (!g || !g.waiting.delete(from.id)) return;
        g.results.push({ worker: String(from.id), data: m.data });
        if (g.waiting.size === 0) this.answer(m.id);
        return;
      }
    }
  }

  private answer(key: number): void {
    const g = this.gathers.get(key);
    if (!g) return;
    clearTimeout(g.timer);
    this.gathers.delete(key);
    if (g.asker.isConnected()) send(g.asker, { t: 'strangler:gathered', id: g.id, results: g.results, missing: [...g.waiting].map(String) });
  }

  /** A worker that died answers no gather: stop waiting for it. */
  private forget(workerId: number): void {
    for (const [key, g] of this.gathers) if (g.waiting.delete(workerId) && g.waiting.size === 0) this.answer(key);
  }

  /** Every worker drains (SIGTERM) and exits; one still running after drainMs + 5 s is killed. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const all = [...this.workers.values()].map((w) => w.worker);
      await Promise.all(
        all.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              const kill = setTimeout(() => w.process.kill('SIGKILL'), this.o.drainMs + 5000);
              w.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
    })();
    return this.stopping;
  }
}

/**
 * Sends to a worker. A worker killed a moment ago is still connected until
 * the primary's loop sees its channel close, and a write to it then fails
 * with EPIPE: without a callback that failure is an 'error' event, which
 * nothing handled, and it crashed the primary (and with it every worker).
 * The loss is the dying worker's own: its exit does the bookkeeping.
 */
export function send(w: Pick<Worker, 'isConnected' | 'send'>, m: PrimaryToWorker): void {
  if (w.isConnected()) w.send(m, ignoreSendError);
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
