import path from 'node:path';
import { waitFor } from '@strangler/common';
import { REPO_ROOT } from './config';
import { StackError } from './errors';
import type { StackLayout } from './layout';
import { ManagedProcess } from './process';

export const MONOLITH_SERVER = path.join(REPO_ROOT, 'monolith', 'src', 'server.ts');

/** One monolith process for one tenant, on its own database, as the legacy deployment runs it. */
export async function startMonolith(
  layout: StackLayout,
  tenant: string,
  port: number,
  databaseUrl: string,
): Promise<{ process: ManagedProcess; url: string }> {
  const child = await ManagedProcess.start(`monolith-${tenant}`, {
    command: process.execPath,
    args: ['--import', 'tsx', MONOLITH_SERVER, `--strangler-state=${layout.stateDir}`],
    cwd: REPO_ROOT,
    env: { ...process.env, TENANT: tenant, DATABASE_URL: databaseUrl, PORT: String(port), NODE_ENV: 'production' },
    logFile: layout.log(`monolith-${tenant}`),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `the ${tenant} monolith at ${url}/healthz`,
    async () => ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 100, abort: () => child.deathError() },
  ).catch(async (err: unknown) => {
    await child.stop('SIGKILL', 1000);
    throw err instanceof StackError ? err : new StackError('STR_ERR_STACK_NOT_READY', (err as Error).message, { cause: err });
  });
  return { process: child, url };
}
