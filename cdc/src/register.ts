import { Client } from 'pg';
import { sleep } from '@strangler/common';
import { ConnectClient, type ConnectorConfig } from './connect-client';
import { connectorName, DROP_ORIGIN_TRANSFORM, HEARTBEAT_TABLE, MONOLITH_TABLES, POSTGRES_CONNECTOR_CLASS, SIGNAL_TABLE, slotName, tenantConnectorConfig, type TenantSource } from './connector-config';
import { CdcError } from './errors';
import { connectSource } from './source-db';
import { signalSnapshot } from './snapshot';
import { assertSourceReady } from './source-check';
import { BACKSYNC_ORIGIN_PREFIX } from './projector/runtime';

export type RegisterAction = 'created' | 'updated' | 'unchanged';

export interface RegisterResult {
  readonly name: string;
  readonly action: RegisterAction;
  readonly config: ConnectorConfig;
  /**
   * Tables an update added to a running connector: their rows from before
   * are sent by an incremental snapshot, signalled under `id` (Debezium's
   * initial snapshot ran long ago and covered only the tables of then).
   */
  readonly snapshot?: { readonly id: string; readonly tables: readonly string[] };
}

export interface RegisterOptions {
  /** How long an update may take to restart the connector's task with its new tables. @default 60000 */
  readonly timeoutMs?: number;
}

/** Whether Connect holds this config already (its `name` key aside): registration then changes nothing. */
export function sameConfig(current: ConnectorConfig, wanted: ConnectorConfig): boolean {
  const strip = ({ name: _name, ...rest }: Record<string, string>) => rest;
  const a = strip({ ...current });
  const b = strip({ ...wanted });
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

/**
 * Registers (or updates) the Debezium connector of one tenant database,
 * idempotently: an identical config already in place is left alone, so a
 * second run changes nothing and restarts nothing. Connect validates the
 * config first, and every rejected field is reported at once. The
 * publication is made first (see ensurePublication).
 */
/** Whether the Connect workers have a transformation (an old worker without the plugins listing: no). */
export async function hasTransform(connect: ConnectClient, cls: string): Promise<boolean> {
  try {
    return (await connect.plugins()).some((p) => p.class === cls && p.type === 'transformation');
  } catch (err) {
    if ((err as { code?: string }).code === 'STR_ERR_CDC_CONNECT_UNREACHABLE') throw err;
    return false;
  }
}

export async function registerTenantConnector(connect: ConnectClient, source: TenantSource, options: RegisterOptions = {}): Promise<RegisterResult> {
  const name = connectorName(source.tenant);
  // Back-sync's writes into this database are copies of changes already on the service's stream: dropped before
  // Kafka where the workers have the toolkit's transformation (the stack's do), else passed over by every consumer.
  const dropOrigins = source.dropOrigins ?? ((await hasTransform(connect, DROP_ORIGIN_TRANSFORM)) ? [BACKSYNC_ORIGIN_PREFIX] : []);
  const config = tenantConnectorConfig({ ...source, dropOrigins });
  const current = await connect.getConfig(name);
  if (current && sameConfig(current, config)) {
    await ensurePublication(source);
    return { name, action: 'unchanged', config };
  }
  const validation = await connect.validate(POSTGRES_CONNECTOR_CLASS, { ...config, name });
  if (validation.error_count > 0) {
    const problems = validation.configs
      .filter((c) => c.value.errors.length > 0)
      .map((c) => `  - ${c.value.name} (${JSON.stringify(c.value.name.includes('password') ? '***' : c.value.value)}): ${c.value.errors.join('; ')}`);
    throw new CdcError('STR_ERR_CDC_CONNECTOR_INVALID', `Kafka Connect rejected the connector config of tenant ${source.tenant}:\n${problems.join('\n')}`, {
      context: { tenant: source.tenant, connector: name },
    });
  }
  // Everything the connector's settings rely on in the source, checked before Connect gets it (a missing heartbeat
  // table, for one, fails each snapshot at its end and Connect runs it again for ever while every status reads RUNNING).
  await assertSourceReady(sourceUrlOf(source), source.tenant, source.tables ?? MONOLITH_TABLES);
  await ensurePublication(source);
  const added = current ? tablesOf(config).filter((t) => !tablesOf(current).includes(t)) : [];
  const before = added.length > 0 ? await slotHolder(source) : null;
  await connect.putConfig(name, config);
  if (added.length === 0) return { name, action: current ? 'updated' : 'created', config };
  // The task that reads the signal must be the one with the new tables: Connect restarts it, and the
  // replication slot changes hands. A signal read by the old task would skip tables it does not capture.
  await waitUntilStreaming(connect, source.tenant, sourceUrlOf(source), options.timeoutMs ?? 60_000, { replacing: before ?? null }).catch((err: unknown) => {
    if ((err as CdcError).code !== 'STR_ERR_CDC_CONNECTOR_NOT_STREAMING') throw err;
    throw new CdcError(
      'STR_ERR_CDC_CONNECTOR_NOT_STREAMING',
      `${(err as Error).message}, so the rows ${added.join(', ')} held before were not asked for: once it streams, run \`strangler cdc snapshot --tenant ${source.tenant} --database-url <url> ${added.map((t) => `--table ${t}`).join(' ')}\``,
      { cause: err, retriable: true, context: { tenant: source.tenant, connector: name, tables: added } },
    );
  });
  const id = `register-${Date.now().toString(36)}-${source.tenant}`.slice(0, 42);
  await signalSnapshot(sourceUrlOf(source), source.tenant, added, id);
  return { name, action: 'updated', config, snapshot: { id, tables: added } };
}

/** The captured tables of a connector config (without the toolkit's own signal and heartbeat tables). */
function tablesOf(config: ConnectorConfig): string[] {
  return (config['table.include.list'] ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t && t !== SIGNAL_TABLE && t !== HEARTBEAT_TABLE);
}

/** The tenant's monolith database as a URL, from its source. */
export function sourceUrlOf(source: TenantSource): string {
  return `postgresql://${encodeURIComponent(source.user)}${source.password ? `:${encodeURIComponent(source.password)}` : ''}@${source.host}:${source.port}/${encodeURIComponent(source.database)}`;
}

/** The backend pid streaming the tenant's slot now (null: no one). */
async function slotHolder(source: TenantSource): Promise<number | null | undefined> {
  const db = await connectSource(sourceUrlOf(source), (reason, at) => `cannot reach tenant ${source.tenant}'s database ${at}: ${reason}`);
  try {
    return await slotPid(db, source.tenant);
  } finally {
    await db.end().catch(() => {});
  }
}

/** The backend streaming the tenant's replication slot (null: none), undefined when there is no slot. */
async function slotPid(db: Client, tenant: string): Promise<number | null | undefined> {
  const { rows } = await db.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slotName(tenant)]);
  return rows[0] === undefined ? undefined : rows[0].pid;
}

/**
 * The tenant's publication, made before Debezium makes its own, with
 * publish_via_partition_root: a partitioned table's changes are then
 * published as the table's own, on `<tenant>.<schema>.<table>`. Without it,
 * PostgreSQL publishes them under each partition's name, which the
 * connector's table list does not hold, and they never reach Kafka (a
 * partitioned messages table is common in a monolith of some age).
 * Debezium ("filtered" mode) then sets the publication's tables and keeps
 * the option. Idempotent; an existing publication gets the option too.
 */
export async function ensurePublication(source: TenantSource): Promise<void> {
  const db = await connectSource(sourceUrlOf(source), (reason, at) => `cannot reach tenant ${source.tenant}'s database ${at} to make its publication: ${reason}`);
  try {
    const publication = `"${slotName(source.tenant)}"`;
    const { rows } = await db.query<{ viaroot: boolean }>('SELECT pubviaroot AS viaroot FROM pg_publication WHERE pubname = $1', [slotName(source.tenant)]);
    if (!rows[0]) await db.query(`CREATE PUBLICATION ${publication} WITH (publish_via_partition_root = true)`);
    else if (!rows[0].viaroot) await db.query(`ALTER PUBLICATION ${publication} SET (publish_via_partition_root = true)`);
  } finally {
    await db.end();
  }
}

/**
 * Waits until the tenant's connector and its task run and its replication
 * slot is active: from then on every commit in that database reaches Kafka.
 */
export async function waitUntilStreaming(
  connect: ConnectClient,
  tenant: string,
  databaseUrl: string,
  timeoutMs = 60_000,
  options: {
    /** Streaming by another backend than this one (the task before a config update). */
    readonly replacing?: number | null;
    /** Told each table an initial snapshot starts reading (a snapshot that reads keeps the wait going past timeoutMs). */
    readonly onSnapshot?: (table: string) => void;
  } = {},
): Promise<void> {
  const name = connectorName(tenant);
  let deadline = Date.now() + timeoutMs;
  const db = await connectSource(databaseUrl, (reason, at) => `cannot reach tenant ${tenant}'s database ${at}: ${reason}`);
  let last = 'no status yet';
  // The initial snapshot's progress, from the source itself: the table its session is reading now.
  // Each table's readers: a snapshot that starts over reads it again from a new session (a new backend pid).
  const readers = new Map<string, Set<number>>();
  const read: string[] = [];
  try {
    while (Date.now() < deadline) {
      const status = await connect.status(name).catch((err: CdcError) => {
        if (err.retriable) return undefined;
        throw err;
      });
      const failed = status?.tasks.find((t) => t.state === 'FAILED') ?? (status?.connector.state === 'FAILED' ? status.connector : undefined);
      if (failed) {
        throw new CdcError('STR_ERR_CDC_CONNECTOR_FAILED', `connector ${name} failed: ${(failed.trace ?? 'no trace').split('\n').slice(0, 6).join('\n')}`, {
          context: { tenant, connector: name },
        });
      }
      if (status) last = `connector ${status.connector.state}, tasks ${status.tasks.map((t) => t.state).join(',') || 'none'}`;
      if (status?.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING')) {
        const pid = await slotPid(db, tenant);
        if (pid != null && (options.replacing == null || pid !== options.replacing)) return;
        last += pid === undefined ? ', no slot yet' : pid === null ? ', slot inactive (snapshot running?)' : ', slot still held by the task before the update';
        if (pid === null) {
          const now = await snapshotReading(db);
          if (now !== null) {
            const { table, pid: reader } = now;
            // A snapshot that reads is healthy however long it takes: the wait goes on while it moves.
            deadline = Math.max(deadline, Date.now() + timeoutMs);
            const seen = readers.get(table) ?? new Set<number>();
            // The toolkit's own tables (heartbeat, signals) are read too, in a moment: not said, not counted.
            if (table !== HEARTBEAT_TABLE && table !== SIGNAL_TABLE && !seen.has(reader)) {
              if (seen.size >= 2) {
                throw new CdcError('STR_ERR_CDC_CONNECTOR_NOT_STREAMING', `connector ${name}'s initial snapshot started over twice (it read ${table} a third time: ${[...read, table].join(' -> ')}): its task fails at the snapshot's end and Kafka Connect restarts it; see the Connect log, and check the source with strangler cdc register (it names what is missing)`, { context: { tenant, connector: name, read } });
              }
              seen.add(reader);
              readers.set(table, seen);
              read.push(table);
              options.onSnapshot?.(table);
            }
            last += `, initial snapshot reading ${table} (${read.length} of the tables so far)`;
          }
        }
      }
      await sleep(200);
    }
  } finally {
    await db.end();
  }
  throw new CdcError('STR_ERR_CDC_CONNECTOR_NOT_STREAMING', `connector ${name} is not streaming after ${timeoutMs} ms (${last}); see the Connect log`, {
    retriable: true,
    context: { tenant, connector: name },
  });
}

/** The table a connector's snapshot session is reading now in this database (Debezium's `SELECT "col", ... FROM "schema"."table"`), and that session's pid; null when none. */
async function snapshotReading(db: Client): Promise<{ table: string; pid: number } | null> {
  const { rows } = await db.query<{ query: string; pid: number }>(
    // Its rows are fetched through a cursor: between fetches the session is idle in its (repeatable read) transaction.
    `SELECT query, pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'Debezium%'
        AND state IN ('active', 'idle in transaction') AND query ~* '^\\s*SELECT .+ FROM "[^"]+"\\."[^"]+"\\s*$' LIMIT 1`,
  );
  const m = rows[0] ? /FROM "([^"]+)"\."([^"]+)"/i.exec(rows[0].query) : null;
  return m ? { table: `${m[1]}.${m[2]}`, pid: rows[0]!.pid } : null;
}

/**
 * Removes a tenant's connector (with its offsets) and then its replication
 * slot and publication, so the database stops retaining WAL for it and the
 * tenant can be registered again from scratch. Used by tests and by teardown.
 */
export async function removeTenantConnector(connect: ConnectClient, tenant: string, databaseUrl: string): Promise<void> {
  const name = connectorName(tenant);
  if (await connect.getConfig(name)) {
    // Its offsets go too: Connect keeps them under the name, and a connector registered again under it would
    // ask the new slot for a position it never had, and fail ("no longer available on the server").
    await connect.stop(name);
    for (let i = 0; i < 100 && (await connect.status(name))?.connector.state !== 'STOPPED'; i++) await sleep(100);
    await connect.resetOffsets(name);
  }
  await connect.deleteConnector(name);
  const db = await connectSource(
    databaseUrl,
    (reason, at) => `connector ${name} is gone, but tenant ${tenant}'s database ${at} does not accept connections, so its replication slot and publication are still there (and the slot keeps WAL): run this again once it does (${reason})`,
  );
  try {
    const slot = slotName(tenant);
    // The walsender lets go of the slot a moment after the task stops.
    for (let i = 0; i < 100; i++) {
      const { rows } = await db.query<{ active_pid: number | null }>('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      if (!rows[0]) break;
      if (rows[0].active_pid === null) {
        await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
        break;
      }
      if (i > 25) await db.query('SELECT pg_terminate_backend($1)', [rows[0].active_pid]);
      await sleep(100);
    }
    await db.query(`DROP PUBLICATION IF EXISTS "${slot}"`);
  } finally {
    await db.end();
  }
}
