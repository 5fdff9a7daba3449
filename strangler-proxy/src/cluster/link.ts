import cluster from 'node:cluster';
import type { ParityDelta } from '../parity/shadow-parity';
import { type Collect, GATHER_TIMEOUT_MS, ignoreSendError, isStranglerMessage, type PrimaryToWorker, type WorkerToPrimary } from './protocol';

export interface Gathered<T> {
  /** Every worker's answer, this one's first. */
  readonly results: ReadonlyArray<{ readonly worker: string; readonly data: T }>;
  /** Workers that did not answer in time. */
  readonly missing: readonly string[];
}

export interface LinkHandlers {
  /** This worker's own answer to a sibling's question. */
  collect(ask: Collect): Promise<unknown>;
  /** Parity counts another worker made. */
  shared(deltas: readonly ParityDelta[]): void;
}

/**
 * A cluster worker's line to the others, through the primary: it hands over
 * its parity counts, applies theirs, and gathers everyone's answer to an
 * admin question (metrics, recent exchanges, learned noise, who is running).
 */
export class ClusterLink {
  readonly worker: string;
  private seq = 0;
  private readonly waiting = new Map<number, (g: Gathered<unknown>) => void>();
  private handlers: LinkHandlers | null = null;

  constructor(private readonly channel: NodeJS.Process = process) {
    this.worker = String(cluster.worker?.id ?? process.pid);
    channel.on('message', (m: unknown) => {
      if (isStranglerMessage(m)) this.onMessage(m as PrimaryToWorker);
    });
  }

  attach(handlers: LinkHandlers): void {
    this.handlers = handlers;
  }

  ready(url: string, adminUrl: string): void {
    this.send({ t: 'strangler:ready', url, adminUrl });
  }

  share(deltas: readonly ParityDelta[]): void {
    if (deltas.length > 0) this.send({ t: 'strangler:share', deltas });
  }

  /** Asks every worker (this one included) and waits for their answers, at most GATHER_TIMEOUT_MS. */
  async gather<T>(ask: Collect): Promise<Gathered<T>> {
    const own = { worker: this.worker, data: (await this.handlers!.collect(ask)) as T };
    if (!this.channel.connected) return { results: [own], missing: [] };
    const id = ++this.seq;
    const others = await new Promise<Gathered<unknown>>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ results: [], missing: ['(primary did not answer)'] });
      }, GATHER_TIMEOUT_MS + 500);
      this.waiting.set(id, (g) => {
        clearTimeout(timer);
        resolve(g);
      });
      this.send({ t: 'strangler:gather', id, ask });
    });
    return { results: [own, ...(others.results as Gathered<T>['results'])], missing: others.missing };
  }

  private onMessage(m: PrimaryToWorker): void {
    switch (m.t) {
      case 'strangler:share':
        this.handlers?.shared(m.deltas);
        return;
      case 'strangler:collect': {
        const answer = (data: unknown) => this.send({ t: 'strangler:collected', id: m.id, data });
        if (!this.handlers) return void answer(null);
        this.handlers.collect(m.ask).then(answer, () => answer(null));
        return;
      }
      case 'strangler:gathered':
        this.waiting.get(m.id)?.({ results: m.results, missing: m.missing });
        this.waiting.delete(m.id);
        return;
    }
  }

  private send(m: WorkerToPrimary): void {
    // A primary that just died fails the write with EPIPE: the worker exits on the channel's close anyway.
    if (this.channel.connected) this.channel.send?.(m, undefined, undefined, ignoreSendError);
  }
}
