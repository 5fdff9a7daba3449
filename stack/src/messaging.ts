import path from 'node:path';
import { databaseUrl, ensureDatabase } from '@strangler/migrations';
import { REPO_ROOT, type StackConfig } from './config';
import type { StackLayout } from './layout';
import { ManagedProcess, waitUntilHealthy } from './process';

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
  await waitUntilHealthy(child, 'the messaging service', `${url}/healthz`, 60_000);
  return { process: child, url, databaseUrl: dbUrl };
}
