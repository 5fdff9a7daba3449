import path from 'node:path';
import { REPO_ROOT } from './config';
import type { StackLayout } from './layout';
import { ManagedProcess } from './process';

const CLI = path.join(REPO_ROOT, 'cli', 'src', 'main.ts');
/** The messaging domain's tables, as back-sync carries them into each tenant's monolith (users stay with the monolith). */
export const MESSAGING_DOMAIN_TABLES = ['rooms', 'room_members', 'messages'] as const;

/**
 * Runs back-sync for the messaging service as its own process: the
 * connector on the service's database, and the applier that writes what the
 * service commits for the tenants whose domain it owns into their monolith
 * databases. It carries nothing until a tenant's domain is handed over.
 */
export async function startBackSync(
  layout: StackLayout,
  serviceDatabaseUrl: string,
  monoliths: Readonly<Record<string, string>>,
  kafkaBootstrap: string,
  connectUrl: string,
): Promise<{ process: ManagedProcess }> {
  const child = await ManagedProcess.start('backsync', {
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      CLI,
      'backsync',
      'run',
      '--service',
      'messaging',
      '--domain',
      'messaging',
      '--service-db',
      serviceDatabaseUrl,
      ...MESSAGING_DOMAIN_TABLES.flatMap((t) => ['--table', t]),
      ...Object.entries(monoliths).flatMap(([t, url]) => ['--monolith', `${t}=${url}`]),
      '--kafka',
      kafkaBootstrap,
      '--connect',
      connectUrl,
      '--session-timeout',
      '6000',
      `--strangler-state=${layout.stateDir}`,
    ],
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
    logFile: layout.log('backsync'),
  });
  return { process: child };
}
