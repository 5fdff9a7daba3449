import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { sleep, waitFor } from '@strangler/common';
import { StackError } from './errors';

export interface StartOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * One child of the stack: its own process group (so a terminal's Ctrl-C
 * reaches only us, and we stop children in order), output appended to its
 * log file, and an exit we can observe while waiting for readiness.
 */
export class ManagedProcess {
  /** Every child started and not yet exited, ready or not (an interrupted start stops those still booting too). */
  private static readonly live = new Set<ManagedProcess>();
  readonly name: string;
  readonly logFile: string;
  readonly pid: number;
  private readonly child: ChildProcess;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private stopping = false;
  readonly exited: Promise<void>;

  private constructor(name: string, logFile: string, child: ChildProcess) {
    this.name = name;
    this.logFile = logFile;
    this.child = child;
    if (child.pid === undefined) throw new StackError('STR_ERR_STACK_PROCESS_EXITED', `${name} could not be started`);
    this.pid = child.pid;
    ManagedProcess.live.add(this);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        ManagedProcess.live.delete(this);
        this.exitInfo = { code, signal };
        resolve();
      });
    });
  }

  /** The children alive whose log is in `logsDir` (one stack's, booting or ready). */
  static alive(logsDir: string): ManagedProcess[] {
    return [...ManagedProcess.live].filter((p) => p.logFile.startsWith(logsDir));
  }

  static start(name: string, options: StartOptions): Promise<ManagedProcess> {
    const fd = fs.openSync(options.logFile, 'a');
    fs.writeSync(fd, `\n---- ${new Date().toISOString()} starting ${name}: ${options.command} ${options.args.join(' ')}\n`);
    return new Promise((resolve, reject) => {
      const child = spawn(options.command, [...options.args], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
        ...(options.uid === undefined ? {} : { uid: options.uid }),
        ...(options.gid === undefined ? {} : { gid: options.gid }),
      });
      child.once('error', (err) => {
        fs.closeSync(fd);
        reject(
          new StackError('STR_ERR_STACK_PROCESS_EXITED', `${name} could not be started (${options.command}): ${err.message}`, {
            cause: err,
            context: { name, command: options.command },
          }),
        );
      });
      child.once('spawn', () => {
        fs.closeSync(fd);
        resolve(new ManagedProcess(name, options.logFile, child));
      });
    });
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The error to raise when this process died while we still needed it; undefined while it runs. */
  deathError(): StackError | undefined {
    if (this.exitInfo === undefined || this.stopping) return undefined;
    const how = this.exitInfo.signal ? `signal ${this.exitInfo.signal}` : `exit code ${this.exitInfo.code}`;
    return new StackError(
      'STR_ERR_STACK_PROCESS_EXITED',
      `${this.name} exited (${how}). Last lines of ${this.logFile}:\n${tailFile(this.logFile, 25)}`,
      { context: { name: this.name, logFile: this.logFile, ...this.exitInfo } },
    );
  }

  /** Sends `signal` to the whole process group, then SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    signalGroup(this.pid, signal);
    const grace = new AbortController();
    const stopped = await Promise.race([
      this.exited.then(() => true),
      sleep(graceMs, false, { signal: grace.signal }).catch(() => false),
    ]);
    grace.abort();
    if (!stopped) {
      signalGroup(this.pid, 'SIGKILL');
      await this.exited;
    }
  }

  /** Last resort from a synchronous exit handler. */
  killNow(): void {
    if (this.running) signalGroup(this.pid, 'SIGKILL');
  }
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function tailFile(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return '    (no log written)';
  }
}

/**
 * Waits until `url` answers 2xx, failing early if the child dies; on any
 * failure the child is killed and the error is a StackError.
 */
export async function waitUntilHealthy(child: ManagedProcess, what: string, url: string, timeoutMs: number): Promise<void> {
  await waitFor(
    `${what} at ${url}`,
    async () => ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok ? true : undefined),
    { timeoutMs, intervalMs: 100, abort: () => child.deathError() },
  ).catch(async (err: unknown) => {
    await child.stop('SIGKILL', 1000);
    throw err instanceof StackError ? err : new StackError('STR_ERR_STACK_NOT_READY', (err as Error).message, { cause: err });
  });
}
