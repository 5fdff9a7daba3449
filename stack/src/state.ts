import fs from 'node:fs';
import { sleep } from '@strangler/common';
import { StackError } from './errors';
import type { StackLayout } from './layout';
import { isAlive, signalGroup } from './process';

/** What a running stack writes down, so another process can find it, reuse it or clean up after it. */
export interface StackState {
  readonly ownerPid: number;
  readonly startedAt: string;
  readonly readyAt?: string;
  readonly processes: readonly { name: string; pid: number; logFile: string }[];
  readonly endpoints: {
    readonly postgresAdminUrl: string;
    readonly kafkaBootstrap: string;
    readonly connectUrl: string;
    readonly monoliths: Readonly<Record<string, { url: string; databaseUrl: string }>>;
  };
}

export function readState(layout: StackLayout): StackState | undefined {
  try {
    return JSON.parse(fs.readFileSync(layout.stateFile, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

export function writeState(layout: StackLayout, state: StackState): void {
  const tmp = `${layout.stateFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2));
  fs.renameSync(tmp, layout.stateFile);
}

export function removeState(layout: StackLayout): void {
  fs.rmSync(layout.stateFile, { force: true });
}

/** True when `pid` is alive and its command line mentions `marker` (guards against a recycled pid). */
export function belongsToStack(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

/** The live owner of this state folder, if another process runs a stack from it. */
export function runningOwner(layout: StackLayout): StackState | undefined {
  const state = readState(layout);
  if (!state || state.ownerPid === process.pid || !isAlive(state.ownerPid)) return undefined;
  return state;
}

/**
 * A stack whose owner was killed (kill -9, a crashed test run) leaves its
 * children behind; stop them before starting anew. Returns their names.
 */
export async function reapOrphans(layout: StackLayout): Promise<string[]> {
  const state = readState(layout);
  if (!state) return [];
  if (state.ownerPid !== process.pid && isAlive(state.ownerPid)) {
    throw new StackError(
      'STR_ERR_STACK_ALREADY_RUNNING',
      `a stack is already running from ${layout.stateDir} (pid ${state.ownerPid}): stop it with Ctrl-C in its terminal or \`npm run stack -- down\`, ` +
        'or give this one its own STRANGLER_STATE_DIR and ports.',
      { context: { ownerPid: state.ownerPid } },
    );
  }
  // Every child's command line names the state folder, except PostgreSQL's when its data folder lives elsewhere.
  const orphans = state.processes.filter((p) => belongsToStack(p.pid, layout.stateDir) || belongsToStack(p.pid, layout.postgresData));
  // PostgreSQL takes SIGTERM as a smart shutdown, which waits for every client to leave: SIGINT is its fast one, as at a normal stop.
  for (const p of orphans) signalGroup(p.pid, p.name === 'postgres' ? 'SIGINT' : 'SIGTERM');
  for (let i = 0; i < 100 && orphans.some((p) => isAlive(p.pid)); i++) await sleep(100);
  for (const p of orphans) if (isAlive(p.pid)) signalGroup(p.pid, 'SIGKILL');
  // Gone, not only signalled: the ports they hold are checked next.
  for (let i = 0; i < 50 && orphans.some((p) => isAlive(p.pid)); i++) await sleep(100);
  removeState(layout);
  return orphans.map((p) => `${p.name} (pid ${p.pid})`);
}
