import fs from 'node:fs';
import { StackError } from './errors';
import type { StackLayout } from './layout';
import { ManagedProcess } from './process';
import { reapOrphans, removeState, writeState, type StackState } from './state';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * What every start of a topology shares, whatever it starts: the orphans of
 * a killed run reaped, the state file kept with each child as it comes up,
 * progress lines, a stop of everything newest first, and an interruption
 * (Ctrl-C during start-up) that stops the start where it has got to,
 * stops the children still booting too, and keeps quiet from then on.
 */
export class StartLifecycle {
  readonly started: ManagedProcess[] = [];
  readonly state: Mutable<StackState>;
  private readonly t0 = process.hrtime.bigint();
  private stopping: Promise<void> | undefined;
  private readonly interrupted: Promise<never>;

  constructor(
    readonly layout: StackLayout,
    endpoints: StackState['endpoints'],
    private readonly progress: (line: string) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.state = { ownerPid: process.pid, startedAt: new Date().toISOString(), processes: [], endpoints };
    this.interrupted = new Promise<never>((_, reject) => {
      if (!signal) return;
      const on = () => reject(new StackError('STR_ERR_STACK_INTERRUPTED', 'start-up interrupted: everything it had started is stopped'));
      if (signal.aborted) on();
      else signal.addEventListener('abort', on, { once: true });
    });
    this.interrupted.catch(() => {});
  }

  /** Reaps what a killed run left (freeing its ports) and makes the folders; the state is written once run() begins. */
  async prepare(cacheDir: string): Promise<void> {
    const reaped = await reapOrphans(this.layout);
    if (reaped.length) this.say('cleanup', `stopped what an earlier, killed run left behind: ${reaped.join(', ')}`);
    for (const dir of [this.layout.stateDir, this.layout.logsDir, this.layout.kafkaDir, this.layout.connectDir]) fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(cacheDir, { recursive: true });
  }

  get elapsedMs(): number {
    return Number(process.hrtime.bigint() - this.t0) / 1e6;
  }

  /** A progress line; silent once interrupted (the steps still finishing in the background say nothing, no "ready" after a Ctrl-C). */
  say(step: string, text: string): void {
    if (this.signal?.aborted) return;
    this.progress(`[${(this.elapsedMs / 1e3).toFixed(1).padStart(5)} s] ${step.padEnd(16)} ${text}`);
  }

  /** Records a child that came up (stopped at once when the start was interrupted meanwhile). */
  track(p: ManagedProcess): ManagedProcess {
    this.started.push(p);
    if (this.signal?.aborted) {
      void p.stop(p.name === 'postgres' ? 'SIGINT' : 'SIGTERM');
      throw new StackError('STR_ERR_STACK_INTERRUPTED', 'start-up interrupted');
    }
    this.state.processes = this.started.map((s) => ({ name: s.name, pid: s.pid, logFile: s.logFile }));
    writeState(this.layout, this.state);
    return p;
  }

  /** Stops every child, newest first (PostgreSQL with its fast shutdown), and removes the state. Safe to call twice. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      for (const p of [...this.started].reverse()) await p.stop(p.name === 'postgres' ? 'SIGINT' : 'SIGTERM');
      removeState(this.layout);
    })());
  }

  /** Marks the start ready in the state file. */
  ready(): void {
    this.state.readyAt = new Date().toISOString();
    writeState(this.layout, this.state);
  }

  /**
   * Runs the start's body: resolves with it, or, when it fails or the start
   * is interrupted, stops everything it started (and what is still booting,
   * when interrupted) and rejects.
   */
  async run<T>(body: () => Promise<T>): Promise<T> {
    writeState(this.layout, this.state);
    try {
      const b = body();
      b.catch(() => {}); // after an interruption it fails on its own, unheard
      return await Promise.race([b, this.interrupted]);
    } catch (err) {
      await this.stop();
      if (this.signal?.aborted) await Promise.all(ManagedProcess.alive(this.layout.logsDir).map((p) => p.stop(p.name === 'postgres' ? 'SIGINT' : 'SIGTERM')));
      throw err;
    }
  }
}
