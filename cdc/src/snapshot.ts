import pg from 'pg';
import { notificationTopic, SIGNAL_TABLE } from './connector-config';
import { CdcError } from './errors';
import type { KafkaClients } from './kafka';

/**
 * Asks a tenant's connector for an incremental snapshot of `tables`
 * (`<schema>.<table>`): an execute-snapshot row in the tenant database's
 * signal table, which the connector reads from its own stream. Debezium then
 * emits every current row of those tables as a read (op "r"), interleaved
 * with the live changes, and reports progress under `id` on the tenant's
 * notification topic.
 */
export async function signalSnapshot(sourceUrl: string, tenant: string, tables: readonly string[], id: string): Promise<void> {
  const client = new pg.Client({ connectionString: sourceUrl });
  try {
    await client.connect();
    await client.query(`INSERT INTO ${SIGNAL_TABLE} (id, type, data) VALUES ($1, 'execute-snapshot', $2)`, [id, JSON.stringify({ 'data-collections': tables, type: 'incremental' })]);
  } catch (err) {
    throw new CdcError('STR_ERR_CDC_SOURCE_UNAVAILABLE', `cannot signal a snapshot of ${tables.join(', ')} in ${tenant}'s database: ${(err as Error).message}`, { cause: err, retriable: true, context: { tenant, tables } });
  } finally {
    await client.end().catch(() => {});
  }
}

/** The tenants' notification topics, made if Debezium has not sent anything yet (a watcher subscribes before it does). */
export async function ensureNotificationTopics(kafka: KafkaClients, tenants: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = tenants.map(notificationTopic).filter((t) => !existing.has(t));
    if (missing.length > 0) await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export interface SnapshotWatch {
  /** True once every signalled snapshot reported COMPLETED; throws STR_ERR_CDC_SNAPSHOT_ABORTED if one was aborted. */
  completed(): boolean;
  close(): Promise<void>;
}

/**
 * Follows the snapshots signalled under the ids of `signals` (id -> tenant)
 * on their tenants' notification topics (Debezium's sink channel).
 */
export async function watchSnapshots(kafka: KafkaClients, groupId: string, signals: ReadonlyMap<string, string>): Promise<SnapshotWatch> {
  const done = new Set<string>();
  let failure: CdcError | null = null;
  const watcher = kafka.consumer(groupId);
  await watcher.connect();
  await watcher.subscribe({ topics: [...new Set(signals.values())].map(notificationTopic), fromBeginning: true });
  await watcher.run({
    eachMessage: async ({ message }) => {
      const n = parseNotification(message.value);
      if (!n || !signals.has(n.id)) return;
      if (n.type === 'COMPLETED') done.add(n.id);
      if (n.type === 'ABORTED') {
        failure = new CdcError('STR_ERR_CDC_SNAPSHOT_ABORTED', `Debezium aborted the snapshot of ${signals.get(n.id)}: ${JSON.stringify(n.additional_data ?? {})}`, { context: { id: n.id, tenant: signals.get(n.id) } });
      }
    },
  });
  return {
    completed(): boolean {
      if (failure) throw failure;
      return done.size === signals.size;
    },
    close: () => watcher.disconnect(),
  };
}

function parseNotification(value: Buffer | null): { id: string; type: string; additional_data?: unknown } | null {
  if (!value) return null;
  try {
    const v = JSON.parse(value.toString('utf8')) as { payload?: { id?: unknown; type?: unknown } } & { id?: unknown; type?: unknown };
    const p = (v.payload ?? v) as { id?: unknown; type?: unknown; additional_data?: unknown };
    return typeof p.id === 'string' && typeof p.type === 'string' ? { id: p.id, type: p.type, additional_data: p.additional_data } : null;
  } catch {
    return null;
  }
}
