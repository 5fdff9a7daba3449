import type pg from 'pg';
import { redactUrl } from '@strangler/common';
import { HEARTBEAT_TABLE, SIGNAL_TABLE, slotName } from './connector-config';
import { CdcError } from './errors';
import { connectSource } from './source-db';

/** One thing capture needs from a source database that it lacks, with the exact fix. */
export interface SourceProblem {
  /** Stable name of the check (tests and `strangler init --json`). */
  readonly check: 'wal_level' | 'replication_role' | 'replication_slots' | 'wal_senders' | 'toolkit_tables' | 'table_missing' | 'table_privilege' | 'replica_identity' | 'publication_privilege';
  readonly problem: string;
  /** What to run (SQL, a setting, a command): nothing is changed behind the user's back. */
  readonly fix: string;
  /** The connector can still be registered (the problem shows later, or only for some writes). */
  readonly warning?: boolean;
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const qt = (t: string) => t.split('.').map(q).join('.');

/**
 * What capturing `tables` of a database through Debezium needs, checked in
 * its catalog without changing anything: logical decoding on, a role that
 * may replicate, a replication slot and a WAL sender free, the toolkit's
 * own tables (the heartbeat the connector writes, the signal table it
 * reads: without them the snapshot fails at its end and Connect runs it
 * again for ever), each table present and readable, and the right to make
 * the publication and set each table's replica identity (its owner, or a
 * superuser). A warning (`warning: true`) says what registering will change
 * (REPLICA IDENTITY FULL). Nothing blocking in the list: ready.
 */
export async function checkSource(db: pg.Client, tenant: string, tables: readonly string[], migrateHint: string): Promise<SourceProblem[]> {
  const problems: SourceProblem[] = [];
  const one = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows[0]!;
  const s = await one<{ wal_level: string; usr: string; dbname: string; superuser: boolean; replication: boolean; slots: number; used: number; senders: number; senders_used: number; own_slot: boolean; can_create: boolean }>(
    `SELECT current_setting('wal_level') AS wal_level, current_user AS usr, current_database() AS dbname,
            r.rolsuper AS superuser, r.rolreplication AS replication,
            current_setting('max_replication_slots')::int AS slots, (SELECT count(*)::int FROM pg_replication_slots) AS used,
            current_setting('max_wal_senders')::int AS senders, (SELECT count(*)::int FROM pg_stat_replication) AS senders_used,
            EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1) AS own_slot,
            has_database_privilege(current_database(), 'CREATE') AS can_create
       FROM pg_roles r WHERE r.rolname = current_user`,
    [slotName(tenant)],
  );
  if (s.wal_level !== 'logical') {
    problems.push({
      check: 'wal_level',
      problem: `logical decoding is off (wal_level = ${s.wal_level})`,
      fix: "ALTER SYSTEM SET wal_level = 'logical'; then restart PostgreSQL (on Amazon RDS or Aurora: set rds.logical_replication = 1 in the parameter group; on Cloud SQL: the flag cloudsql.logical_decoding = on)",
    });
  }
  if (!s.superuser && !s.replication) {
    problems.push({ check: 'replication_role', problem: `role ${s.usr} may not open a replication connection`, fix: `ALTER ROLE ${q(s.usr)} WITH REPLICATION; (on RDS: GRANT rds_replication TO ${q(s.usr)};)` });
  }
  if (!s.own_slot && s.used >= s.slots) {
    problems.push({ check: 'replication_slots', problem: `every replication slot is taken (${s.used} of max_replication_slots = ${s.slots}); the connector needs one (${slotName(tenant)})`, fix: `ALTER SYSTEM SET max_replication_slots = ${s.used + 1}; then restart PostgreSQL (or drop a slot nobody reads: SELECT slot_name, active FROM pg_replication_slots)` });
  }
  if (s.senders_used >= s.senders) {
    problems.push({ check: 'wal_senders', problem: `every WAL sender is busy (${s.senders_used} of max_wal_senders = ${s.senders})`, fix: `ALTER SYSTEM SET max_wal_senders = ${s.senders_used + 2}; then restart PostgreSQL` });
  }
  const toolkit = [HEARTBEAT_TABLE, SIGNAL_TABLE];
  const present = await db.query<{ t: string }>('SELECT n.nspname || \'.\' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname || \'.\' || c.relname = ANY($1)', [toolkit]);
  const missingToolkit = toolkit.filter((t) => !present.rows.some((r) => r.t === t));
  if (missingToolkit.length > 0) {
    problems.push({
      check: 'toolkit_tables',
      problem: `the toolkit's own tables are not in ${s.dbname}: ${missingToolkit.join(', ')} (the connector writes its heartbeat to one and reads snapshot signals from the other; without them its first snapshot fails at its end and Kafka Connect runs it again and again)`,
      fix: migrateHint,
    });
  }
  for (const t of tables) {
    const [schema, name] = t.includes('.') ? [t.slice(0, t.indexOf('.')), t.slice(t.indexOf('.') + 1)] : ['public', t];
    const row = (
      await db.query<{ kind: string; identity: string; has_pk: boolean; readable: boolean; owner: string }>(
        `SELECT c.relkind AS kind, c.relreplident AS identity, pg_get_userbyid(c.relowner) AS owner,
                EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS has_pk,
                has_table_privilege(c.oid, 'SELECT') AS readable
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
        [schema, name],
      )
    ).rows[0];
    const full = `${schema}.${name}`;
    if (!row) {
      problems.push({ check: 'table_missing', problem: `table ${full} is not in ${s.dbname}`, fix: `name an existing table (\\dt in psql lists them), or create ${full} first` });
      continue;
    }
    if (!row.readable) problems.push({ check: 'table_privilege', problem: `role ${s.usr} may not read ${full} (the initial snapshot reads it)`, fix: `GRANT SELECT ON ${qt(full)} TO ${q(s.usr)};` });
    // The connector sets REPLICA IDENTITY FULL on every captured table when it starts (replica.identity.autoset.values:
    // a key change and a delete then carry the whole old row): said, since it changes the table, but no obstacle.
    if (row.identity !== 'f') {
      problems.push({
        check: 'replica_identity',
        problem: `registering the connector sets REPLICA IDENTITY FULL on ${full}${!row.has_pk ? ' (it has no primary key: without it PostgreSQL would refuse the app\'s UPDATE and DELETE once the table is published)' : ''}: each change event then carries the whole old row, and the WAL grows by the old row of each update and delete`,
        fix: `nothing to do; to set it yourself first: ALTER TABLE ${qt(full)} REPLICA IDENTITY FULL;`,
        warning: true,
      });
    }
    if (!s.superuser && row.owner !== s.usr) {
      problems.push({
        check: 'publication_privilege',
        problem: `${full} belongs to ${row.owner}, not ${s.usr}: only its owner (or a superuser) may add it to the connector's publication and set its replica identity`,
        fix: `capture as ${q(row.owner)} or a superuser (the --database-url's user), or give the table to the capture's role: ALTER TABLE ${qt(full)} OWNER TO ${q(s.usr)};`,
      });
    }
  }
  if (!s.superuser && !s.can_create) {
    problems.push({ check: 'publication_privilege', problem: `role ${s.usr} may not create a publication in ${s.dbname}`, fix: `GRANT CREATE ON DATABASE ${q(s.dbname)} TO ${q(s.usr)};` });
  }
  return problems;
}

/** The command that puts the toolkit's own tables into a database. */
export function migrateHint(url: string): string {
  return `run the toolkit's migrations on it (they add schema strangler with these tables, nothing else): npm run migrate -- latest monolith-cdc --database-url ${redactUrl(url)}; or register with --prepare`;
}

/**
 * Refuses a source database that capture would fail on, naming every
 * missing piece with its fix (warnings are let through).
 */
export async function assertSourceReady(url: string, tenant: string, tables: readonly string[]): Promise<void> {
  const db = await connectSource(url, (reason, at) => `cannot reach tenant ${tenant}'s database ${at} to check it can be captured: ${reason}`);
  let problems: SourceProblem[];
  try {
    problems = await checkSource(db, tenant, tables, migrateHint(url));
  } finally {
    await db.end().catch(() => {});
  }
  const blocking = problems.filter((p) => !p.warning);
  if (blocking.length === 0) return;
  throw new CdcError('STR_ERR_CDC_SOURCE_NOT_READY', `tenant ${tenant}'s database ${redactUrl(url)} cannot be captured yet; nothing was registered:\n${blocking.map((p) => `  - ${p.problem}\n    fix: ${p.fix}`).join('\n')}`, {
    context: { tenant, checks: blocking.map((p) => p.check) },
  });
}
