export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Failures within windowMs that open the breaker. */
  readonly failures: number;
  readonly windowMs: number;
  /** Time spent open before a single probe is let through. */
  readonly openMs: number;
}

/** The schema's defaults, for a service the config does not name (or no longer names). */
export const DEFAULT_BREAKER: BreakerOptions = Object.freeze({ failures: 5, windowMs: 10_000, openMs: 5_000 });

/**
 * A per-service circuit breaker. Closed: requests flow and failures are
 * counted in a sliding window. Open: nothing is sent; the caller falls back.
 * Half-open: exactly one probe goes through; its outcome closes or re-opens.
 */
export class CircuitBreaker {
  private failuresAt: number[] = [];
  private openedAt = 0;
  private probing = false;
  private _state: BreakerState = 'closed';

  constructor(
    private readonly options: BreakerOptions,
    private readonly onChange: (state: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    return this._state;
  }

  /** Whether a request may go to the service now. In half-open, only the first caller gets true. */
  allow(): boolean {
    if (this._state === 'closed') return true;
    if (this._state === 'open') {
      if (this.now() - this.openedAt < this.options.openMs) return false;
      this.set('half-open');
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  /** Whether allow() would say yes now, without taking the probe. */
  admits(): boolean {
    if (this._state === 'closed') return true;
    if (this._state === 'open') return this.now() - this.openedAt >= this.options.openMs;
    return !this.probing;
  }

  /** A probe that was let through but never sent (a dropped shadow copy): the next caller may probe. */
  release(): void {
    if (this._state === 'half-open') this.probing = false;
  }

  success(): void {
    if (this._state !== 'closed') {
      this.probing = false;
      this.failuresAt = [];
      this.set('closed');
    }
  }

  failure(): void {
    const t = this.now();
    if (this._state === 'half-open') {
      this.probing = false;
      this.trip(t);
      return;
    }
    if (this._state === 'open') return;
    this.failuresAt.push(t);
    const since = t - this.options.windowMs;
    while (this.failuresAt.length > 0 && this.failuresAt[0]! < since) this.failuresAt.shift();
    if (this.failuresAt.length >= this.options.failures) this.trip(t);
  }

  private trip(t: number): void {
    this.openedAt = t;
    this.failuresAt = [];
    this.set('open');
  }

  private set(state: BreakerState): void {
    if (state !== this._state) {
      this._state = state;
      this.onChange(state);
    }
  }
}
