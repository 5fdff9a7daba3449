import path from 'node:path';
import { ConnectClient, eventTopic, registerOutboxConnector } from '@strangler/cdc';
import { databaseUrl, ensureDatabase } from '@strangler/migrations';
import { REPO_ROOT, type StackConfig } from './config';
import type { StackLayout } from './layout';
import { ManagedProcess, waitUntilHealthy } from './process';

export const NOTIFICATIONS_DATABASE = 'extracted_notifications';
const SERVER = path.join(REPO_ROOT, 'extracted', 'notifications', 'src', 'server.ts');

/** The notifications service's port: the one after the messaging service's. */
export const notificationsPort = (config: StackConfig) => config.ports.extractedBase + 1;

/**
 * The messaging service's domain events: its outbox connector (Debezium's
 * outbox event router on its database), and the notifications service,
 * which reads only those events, as its own process on its own database.
 */
export async function startDomainEvents(
  layout: StackLayout,
  config: StackConfig,
  serverUrl: string,
  messagingDatabaseUrl: string,
  kafkaBootstrap: string,
  connectUrl: string,
): Promise<{ process: ManagedProcess; url: string; connector: string; topics: string[] }> {
  const svc = new URL(messagingDatabaseUrl);
  const connector = await registerOutboxConnector(new ConnectClient(connectUrl), {
    service: 'messaging',
    host: svc.hostname,
    port: Number(svc.port || 5432),
    database: decodeURIComponent(svc.pathname.slice(1)),
    user: decodeURIComponent(svc.username || 'postgres'),
    ...(svc.password ? { password: decodeURIComponent(svc.password) } : {}),
  });
  await ensureDatabase(serverUrl, NOTIFICATIONS_DATABASE);
  const topics = [eventTopic('messaging', 'message'), eventTopic('messaging', 'room')];
  const port = notificationsPort(config);
  const child = await ManagedProcess.start('notifications', {
    command: process.execPath,
    args: ['--import', 'tsx', SERVER, `--strangler-state=${layout.stateDir}`],
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl(serverUrl, NOTIFICATIONS_DATABASE), KAFKA_BROKERS: kafkaBootstrap, EVENT_TOPICS: topics.join(','), PORT: String(port), NODE_ENV: 'production' },
    logFile: layout.log('notifications'),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilHealthy(child, 'the notifications service', `${url}/healthz`, 60_000);
  return { process: child, url, connector, topics };
}

const CLI = path.join(REPO_ROOT, 'cli', 'src', 'main.ts');

/** `strangler catalog serve` over this stack's Kafka and the repository's contracts: the dashboard's Streams page reads it. */
export async function startCatalog(layout: StackLayout, config: StackConfig, kafkaBootstrap: string): Promise<{ process: ManagedProcess; url: string }> {
  const child = await ManagedProcess.start('catalog', {
    command: process.execPath,
    args: ['--import', 'tsx', CLI, 'catalog', 'serve', '--port', String(config.ports.catalog), '--kafka', kafkaBootstrap, `--strangler-state=${layout.stateDir}`],
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
    logFile: layout.log('catalog'),
  });
  const url = `http://127.0.0.1:${config.ports.catalog}`;
  await waitUntilHealthy(child, 'the catalog', `${url}/healthz`, 60_000);
  return { process: child, url };
}
