import { Client } from 'pg';
import type { ConnectClient } from './connect-client';
import { slotName } from './connector-config';

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
  readonly tasks: readonly { id: number; state: string; trace?: string }[];
  readonly slot: SlotStatus | undefined;
  readonly slotError?: string;
}

/** Every connector on the Connect cluster, its tasks, and the replication slot it holds with the WAL it retains. */
export async function cdcStatus(connect: ConnectClient): Promise<ConnectorReport[]> {
  const names = (await connect.listConnectors()).sort();
  return Promise.all(
    names.map(async (name): Promise<ConnectorReport> => {
      const [status, config] = await Promise.all([connect.status(name), connect.getConfig(name)]);
      const tenant = config?.['topic.prefix'];
      const base = {
        name,
        tenant,
        connectorState: status?.connector.state ?? 'UNKNOWN',
        tasks: (status?.tasks ?? []).map((t) => ({ id: t.id, state: t.state, ...(t.trace ? { trace: t.trace.split('\n')[0] } : {}) })),
      };
      if (!config || !config['database.hostname']) return { ...base, slot: undefined };
      try {
        return { ...base, slot: await slotStatus(config, config['slot.name'] ?? slotName(tenant ?? name)) };
      } catch (err) {
        return { ...base, slot: undefined, slotError: (err as Error).message };
      }
    }),
  );
}

async function slotStatus(config: Readonly<Record<string, string>>, slot: string): Promise<SlotStatus | undefined> {
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
    if (!row) return undefined;
    return {
      name: slot,
      active: row.active,
      restartLsn: row.restart_lsn,
      confirmedFlushLsn: row.confirmed_flush_lsn,
      retainedWalBytes: row.retained === null ? null : Number(row.retained),
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
      r.tasks.map((t) => `${t.id}:${t.state}`).join(' ') || '-',
      r.slot?.name ?? (r.slotError ? `error: ${r.slotError}` : 'none'),
      r.slot ? (r.slot.active ? 'yes' : 'no') : '-',
      bytes(r.slot?.retainedWalBytes ?? null),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const failures = reports.flatMap((r) => r.tasks.filter((t) => t.trace).map((t) => `${r.name} task ${t.id}: ${t.trace}`));
  return [...lines, ...failures].join('\n');
}
