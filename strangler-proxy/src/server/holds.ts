/**
 * Writes held while a domain is handed over for a tenant: a bounded queue per
 * domain and tenant, each entry waiting until the routing changes (the flip,
 * or the end of the hand-over) or its own bound passes. Held writes have not
 * been read or sent anywhere: past the bound, or with the queue full, the
 * client gets 503 with Retry-After and nothing of the write reached an
 * upstream.
 */
export interface Held {
  /** Decides again with the routing of now: true when it left the queue (sent on, or refused). */
  retry(): boolean;
  /** The bound passed, or the proxy is stopping: answer 503. */
  expire(why: 'timeout' | 'stopping'): void;
}

interface Entry {
  readonly held: Held;
  readonly timer: NodeJS.Timeout;
  readonly since: number;
}

export class Holds {
  private readonly queues = new Map<string, Set<Entry>>();
  /** Writes of a domain in flight per tenant (`domain\0tenant`): a hand-over's drain waits for 0. */
  private readonly inflight = new Map<string, number>();
  private readonly drainWaiters = new Map<string, Array<() => void>>();

  constructor(private readonly observe: (key: string, waitedMs: number, outcome: 'released' | 'timeout' | 'full' | 'stopping') => void = () => {}) {}

  /** Queues a held write; false when its queue is full (the caller answers 503). */
  add(key: string, held: Held, maxQueued: number, boundMs: number): boolean {
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = new Set()));
    if (q.size >= maxQueued) {
      this.observe(key, 0, 'full');
      return false;
    }
    const since = performance.now();
    const entry: Entry = {
      held,
      since,
      timer: setTimeout(() => {
        if (!q.delete(entry)) return;
        this.observe(key, performance.now() - since, 'timeout');
        held.expire('timeout');
      }, Math.max(1, boundMs)),
    };
    q.add(entry);
    return true;
  }

  /** Every held write decided again (the routing changed): those no longer held leave the queue. */
  retryAll(): void {
    for (const [key, q] of this.queues) {
      for (const e of [...q]) {
        if (!e.held.retry()) continue;
        clearTimeout(e.timer);
        q.delete(e);
        this.observe(key, performance.now() - e.since, 'released');
      }
      if (q.size === 0) this.queues.delete(key);
    }
  }

  /** Held now, per key (for status and metrics). */
  depth(key: string): number {
    return this.queues.get(key)?.size ?? 0;
  }

  get total(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.size;
    return n;
  }

  /** Stopping: every held write answered 503. */
  expireAll(): void {
    for (const [key, q] of this.queues) {
      for (const e of q) {
        clearTimeout(e.timer);
        this.observe(key, performance.now() - e.since, 'stopping');
        e.held.expire('stopping');
      }
    }
    this.queues.clear();
  }

  /** A domain write sent on: counted until its exchange with the client ends. */
  begin(key: string): void {
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
  }

  end(key: string): void {
    const n = (this.inflight.get(key) ?? 1) - 1;
    if (n > 0) {
      this.inflight.set(key, n);
      return;
    }
    this.inflight.delete(key);
    const waiters = this.drainWaiters.get(key);
    if (waiters) {
      this.drainWaiters.delete(key);
      for (const w of waiters) w();
    }
  }

  inFlight(key: string): number {
    return this.inflight.get(key) ?? 0;
  }

  /** Resolves once no write of the key is in flight (at once when none is). */
  drained(key: string): Promise<void> {
    if (!this.inflight.has(key)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.drainWaiters.get(key) ?? [];
      list.push(resolve);
      this.drainWaiters.set(key, list);
    });
  }
}

export const holdKey = (domain: string, tenant: string): string => `${domain}\u0000${tenant}`;
