import { Client } from 'pg';
import type { ConnectClient } from './connect-client';
import { slotName } from './connector-config';
import { parseTaskRestarts, readLogTail } from './restarts';

export interface SlotStatus {
  readonly name: string;
  readonly active: boolean;
  readonly restartLsn: string | null;
  readonly confirmedFlushLsn: string | null;
  /** WAL the server keeps for this slot: current LSN minus restart LSN. */
  readonly retainedWalBytes: number | null;
}

export interface ConnectorReport {
  readonly name: string;
  readonly tenant: string | undefined;
  readonly connectorState: string;
  readonly tasks: readonly { id: number; state: string; trace?: string; restarts?: { count: number; lastAt: string; cause: string } }[];
  readonly slot: SlotStatus | undefined;
  readonly slotError?: string;
  /**
   * Seconds since the connector's heartbeat action query last wrote
   * strangler.cdc_heartbeat in its database (capture is alive while it is
   * small); undefined when the connector has no such heartbeat.
   */
  readonly heartbeatAgeSeconds?: number | null;
}

export interface StatusOptions {
  /** Connect's log: a task that keeps failing with a retriable error reads RUNNING, and only its log says it restarts. */
  readonly connectLog?: string;
  /** How far back restarts count. @default 10 minutes */
  readonly windowMs?: number;
}

/** Restarts in the window that say a task keeps restarting (one may be a blip: a database restarted, say). */
export const RESTART_LOOP = 2;

/** Every connector on the Connect cluster, its tasks (restarts included, from Connect's log when given), and the replication slot it holds with the WAL it retains. */
export async function cdcStatus(connect: ConnectClient, options: StatusOptions = {}): Promise<ConnectorReport[]> {
  const names = (await connect.listConnectors()).sort();
  const log = options.connectLog ? readLogTail(options.connectLog) : null;
  const restarts = new Map((log === null ? [] : parseTaskRestarts(log, new Date(Date.now() - (options.windowMs ?? 600_000)))).map((r) => [r.task, r]));
  return Promise.all(
    names.map(async (name): Promise<ConnectorReport> => {
      const [status, config] = await Promise.all([connect.status(name), connect.getConfig(name)]);
      const tenant = config?.['topic.prefix'];
      const base = {
        name,
        tenant,
        connectorState: status?.connector.state ?? 'UNKNOWN',
        tasks: (status?.tasks ?? []).map((t) => {
          const r = restarts.get(`${name}-${t.id}`);
          return { id: t.id, state: t.state, ...(t.trace ? { trace: t.trace.split('\n')[0] } : {}), ...(r ? { restarts: { count: r.count, lastAt: r.lastAt, cause: r.cause } } : {}) };
        }),
      };
      if (!config || !config['database.hostname']) return { ...base, slot: undefined };
      try {
        return { ...base, ...(await sourceStatus(config, config['slot.name'] ?? slotName(tenant ?? name))) };
      } catch (err) {
        return { ...base, slot: undefined, slotError: (err as Error).message };
      }
    }),
  );
}

/** The connector's replication slot, and its heartbeat's age when its heartbeat action query writes strangler.cdc_heartbeat. */
async function sourceStatus(config: Readonly<Record<string, string>>, slot: string): Promise<{ slot: SlotStatus | undefined; heartbeatAgeSeconds?: number | null }> {
  const db = new Client({
    host: config['database.hostname'],
    port: Number(config['database.port'] ?? 5432),
    user: config['database.user'],
    password: config['database.password'] || undefined,
    database: config['database.dbname'],
    connectionTimeoutMillis: 3000,
  });
  await db.connect();
  try {
    const { rows } = await db.query<{ active: boolean; restart_lsn: string | null; confirmed_flush_lsn: string | null; retained: string | null }>(
      `SELECT active, restart_lsn::text, confirmed_flush_lsn::text,
              pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const row = rows[0];
    let heartbeat: { heartbeatAgeSeconds?: number | null } = {};
    if (/\bstrangler\.cdc_heartbeat\b/.test(config['heartbeat.action.query'] ?? '')) {
      const beat = await db.query<{ age: number | null }>('SELECT extract(epoch FROM clock_timestamp() - max(beat_at))::float8 AS age FROM strangler.cdc_heartbeat');
      heartbeat = { heartbeatAgeSeconds: beat.rows[0]?.age ?? null };
    }
    if (!row) return { slot: undefined, ...heartbeat };
    return {
      slot: {
        name: slot,
        active: row.active,
        restartLsn: row.restart_lsn,
        confirmedFlushLsn: row.confirmed_flush_lsn,
        retainedWalBytes: row.retained === null ? null : Number(row.retained),
      },
      ...heartbeat,
    };
  } finally {
    await db.end();
  }
}

function bytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A fixed-width table for terminals. */
export function formatStatus(reports: readonly ConnectorReport[]): string {
  if (reports.length === 0) return 'no connectors registered';
  const rows = [
    ['CONNECTOR', 'TENANT', 'STATE', 'TASKS', 'SLOT', 'SLOT ACTIVE', 'RETAINED WAL'],
    ...reports.map((r) => [
      r.name,
      r.tenant ?? '-',
      r.connectorState,
      r.tasks.map((t) => `${t.id}:${t.state}${t.restarts && t.restarts.count >= RESTART_LOOP ? ` (restarting: ${t.restarts.count}x)` : ''}`).join(' ') || '-',
      r.slot?.name ?? (r.slotError ? `error: ${r.slotError}` : 'none'),
      r.slot ? (r.slot.active ? 'yes' : 'no') : '-',
      bytes(r.slot?.retainedWalBytes ?? null),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const failures = reports.flatMap((r) => [
    ...r.tasks.filter((t) => t.trace).map((t) => `${r.name} task ${t.id}: ${t.trace}`),
    ...r.tasks
      .filter((t) => t.restarts)
      .map((t) => `${r.name} task ${t.id}: ${t.restarts!.count >= RESTART_LOOP ? 'keeps restarting' : 'restarted'} (${t.restarts!.count} time(s) in the window, last at ${t.restarts!.lastAt}; it reads ${t.state} in between): ${t.restarts!.cause}`),
  ]);
  return [...lines, ...failures].join('\n');
}

/** Whether any task is failed or keeps restarting (what makes `cdc status` exit 1). */
export function unhealthy(reports: readonly ConnectorReport[]): boolean {
  return reports.some((r) => r.connectorState !== 'RUNNING' || r.tasks.some((t) => t.state !== 'RUNNING' || (t.restarts?.count ?? 0) >= RESTART_LOOP));
}
