/**
 * Read-your-writes the other way: a client wrote through a service that owns
 * a domain for its tenant, and its next request goes to the monolith (the
 * message search, a user page, a domain route after a hand-back). The
 * monolith has that write only once back-sync has carried it. The proxy
 * cannot see back-sync's position in time terms, so it asks: a round writes
 * a probe through back-sync (the tenant's ownership row written again as it
 * is, in the service's database) and waits until the monolith's
 * backsync_state shows it applied. Back-sync applies the service's commits
 * in their order, so a round started after the client's write was answered
 * proves the write is in the monolith.
 *
 * Rounds are shared: per domain and tenant at most one runs, and the
 * requests that arrive while it runs (their writes may have come after its
 * probe) wait for the single round after it. Under a steady load of writes
 * and reads this costs one probe per back-sync round trip per tenant, not
 * one per request. A request waits `timeoutMs` at most, and is then sent
 * anyway (counted: the read may miss the client's own write).
 */

export type BarrierOutcome =
  /** A round started after the mark had already finished: nothing to wait for. */
  | 'now'
  /** The request waited for a round. */
  | 'waited'
  /** No round finished in time (back-sync behind or stopped). */
  | 'timeout'
  /** The round failed (a database unreachable, a migration missing): said through onError. */
  | 'failed';

interface Round {
  /** The proxy's clock when its probe was sent; null until it starts. */
  startedAt: number | null;
  readonly done: Promise<boolean>;
  readonly settle: (ok: boolean) => void;
}

interface Slot {
  /** The start of the newest round that finished: every write answered before it is in the monolith. */
  through: number;
  running: Round | null;
  next: Round | null;
}

export class BackSyncBarrier {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly onError: (key: string, err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Waits until a round started after `markMs` (the proxy's clock when the
   * client's write was answered, plus the skew allowed between replicas) has
   * finished, or `timeoutMs` passed. `run` is one round for the key, used
   * when this call starts one: probe, then wait until back-sync applied it;
   * it resolves once applied and rejects when it cannot tell (it times out
   * on its own too: a round that never ends keeps every later one waiting).
   */
  async wait(key: string, markMs: number, timeoutMs: number, run: () => Promise<void>): Promise<BarrierOutcome> {
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { through: -Infinity, running: null, next: null }));
    if (slot.through > markMs) return 'now';
    const round = this.roundAfter(key, slot, markMs, run);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => {
      timer = setTimeout(() => res('timeout'), timeoutMs);
      timer.unref();
    });
    try {
      const r = await Promise.race([round.done, timedOut]);
      return r === 'timeout' ? r : r ? 'waited' : 'failed';
    } finally {
      clearTimeout(timer);
    }
  }

  /** Rounds known per key (GET /ownership and tests). */
  state(key: string): { through: number | null; running: boolean; queued: boolean } {
    const s = this.slots.get(key);
    return { through: s && Number.isFinite(s.through) ? s.through : null, running: s?.running != null, queued: s?.next != null };
  }

  private roundAfter(key: string, slot: Slot, markMs: number, run: () => Promise<void>): Round {
    const running = slot.running;
    if (running !== null && running.startedAt !== null && running.startedAt > markMs) return running;
    if (slot.next !== null) return slot.next;
    const next = round();
    slot.next = next;
    if (running === null) this.start(key, slot, next, run);
    else void running.done.then(() => this.start(key, slot, next, run));
    return next;
  }

  private start(key: string, slot: Slot, r: Round, run: () => Promise<void>): void {
    slot.next = null;
    slot.running = r;
    const startedAt = this.now();
    r.startedAt = startedAt;
    const finish = (ok: boolean) => {
      if (slot.running === r) slot.running = null;
      r.settle(ok);
    };
    run().then(
      () => {
        if (startedAt > slot.through) slot.through = startedAt;
        finish(true);
      },
      (err: unknown) => {
        this.onError(key, err);
        finish(false);
      },
    );
  }
}

function round(): Round {
  let settle!: (ok: boolean) => void;
  const done = new Promise<boolean>((res) => (settle = res));
  return { startedAt: null, done, settle };
}
