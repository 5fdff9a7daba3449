import path from 'node:path';
import { waitFor } from '@strangler/common';
import { databaseUrl, ensureDatabase } from '@strangler/migrations';
import { REPO_ROOT, type StackConfig } from './config';
import { StackError } from './errors';
import type { StackLayout } from './layout';
import { ManagedProcess } from './process';

export const MESSAGING_DATABASE = 'extracted_messaging';
const SERVER = path.join(REPO_ROOT, 'extracted', 'messaging', 'src', 'server.ts');

/**
 * Runs the extracted messaging service as its own process: its database,
 * fed by every tenant's topics, serving the reads the proxy can flip to it.
 */
export async function startMessagingService(
  layout: StackLayout,
  config: StackConfig,
  serverUrl: string,
  kafkaBootstrap: string,
  schemaSourceUrl: string,
): Promise<{ process: ManagedProcess; url: string; databaseUrl: string }> {
  await ensureDatabase(serverUrl, MESSAGING_DATABASE);
  const dbUrl = databaseUrl(serverUrl, MESSAGING_DATABASE);
  const port = config.ports.extractedBase;
  const child = await ManagedProcess.start('messaging', {
    command: process.execPath,
    // The state folder in the command line marks it as this stack's child (orphan reaping).
    args: ['--import', 'tsx', SERVER, `--strangler-state=${layout.stateDir}`],
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: dbUrl,
      KAFKA_BROKERS: kafkaBootstrap,
      SCHEMA_SOURCE_URL: schemaSourceUrl,
      PORT: String(port),
      TENANTS: config.tenants.join(','),
      NODE_ENV: 'production',
    },
    logFile: layout.log('messaging'),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `the messaging service at ${url}/healthz`,
    async () => ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 200, abort: () => child.deathError() },
  ).catch(async (err: unknown) => {
    await child.stop('SIGKILL', 1000);
    throw err instanceof StackError ? err : new StackError('STR_ERR_STACK_NOT_READY', (err as Error).message, { cause: err });
  });
  return { process: child, url, databaseUrl: dbUrl };
}
