import path from 'node:path';
import { REPO_ROOT } from './config';
import type { StackLayout } from './layout';
import { ManagedProcess, waitUntilHealthy } from './process';

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
  await waitUntilHealthy(child, `the ${tenant} monolith`, `${url}/healthz`, 30_000);
  return { process: child, url };
}
