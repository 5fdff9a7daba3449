import pg from 'pg';
import { BACKSYNC_ORIGIN_PREFIX, jsonText, q, qt as quoted, UNAVAILABLE, type ChangeEvent, type Row } from '@strangler/cdc';
import { BackSyncError } from './errors';

export { BACKSYNC_ORIGIN_PREFIX };

const qt = (name: string) => quoted(name.includes('.') ? name : `public.${name}`);

export type Owner = 'monolith' | 'service';
/** Who owns the domain at the point of the service's stream applied. */
export interface OwnershipState {
  readonly owner: Owner;
  readonly epoch: number;
}

interface TableInfo {
  readonly key: readonly string[];
  /** Column name -> its type as format_type() spells it, for the casts. */
  readonly types: ReadonlyMap<string, string>;
}

/**
 * Back-sync's one session in one tenant's monolith database. It writes under
 * a replication origin of its own (`<prefix>_<tenant>`): the monolith's
 * connector then reports every change it makes with that origin, and the
 * forward projector leaves them out (no echo). The origin's progress,
 * advanced in the same transaction as the rows (pg_replication_origin_xact_setup),
 * is how far the back-sync topic has been applied here: exactly once. The
 * position is the topic offset + 1 written as an LSN (the topic has one
 * partition).
 */
export class MonolithWriter {
  private readonly tables = new Map<string, TableInfo>();

  private constructor(
    readonly tenant: string,
    readonly origin: string,
    private readonly client: pg.Client,
  ) {}

  static async open(tenant: string, url: string, prefix = BACKSYNC_ORIGIN_PREFIX): Promise<MonolithWriter> {
    const origin = `${prefix}_${tenant}`;
    const client = new pg.Client({ connectionString: url, application_name: `strangler-backsync-${tenant}` });
    client.on('error', () => {}); // a dropped connection fails the next query, which the applier retries
    try {
      await client.connect();
    } catch (err) {
      throw new BackSyncError('STR_ERR_BACKSYNC_APPLY', `cannot connect to ${tenant}'s monolith database: ${(err as Error).message}`, { cause: err, retriable: true, context: { tenant } });
    }
    try {
      await client.query('SELECT pg_replication_origin_create($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = $1)', [origin]).catch((err: { code?: string }) => {
        if (err.code !== '23505') throw err; // created meanwhile by another applier
      });
      await client.query('SELECT pg_replication_origin_session_setup($1)', [origin]);
    } catch (err) {
      await client.end().catch(() => {});
      const e = err as { code?: string; message: string };
      const busy = /already active|is already/.test(e.message);
      throw new BackSyncError(
        'STR_ERR_BACKSYNC_ORIGIN',
        busy
          ? `replication origin ${origin} is in use by another session: another back-sync applier writes ${tenant}'s monolith database (one at a time); it is retried`
          : `cannot write under replication origin ${origin} in ${tenant}'s monolith database: ${e.message}. Back-sync's role needs: GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text), pg_replication_origin_session_setup(text), pg_replication_origin_xact_setup(pg_lsn, timestamptz), pg_replication_origin_session_progress(boolean), pg_replication_origin_session_reset(), pg_replication_origin_advance(text, pg_lsn) TO <role> (or superuser)`,
        { cause: err, retriable: busy, context: { tenant, origin } },
      );
    }
    return new MonolithWriter(tenant, origin, client);
  }

  /** The offset after the last one applied here (0: nothing yet). */
  async applied(): Promise<bigint> {
    const r = await this.client.query<{ p: string | null }>('SELECT pg_replication_origin_session_progress(true)::text AS p');
    return fromLsn(r.rows[0]?.p ?? null);
  }

  /**
   * Who owns the domain here at the point back-sync has applied
   * (strangler.backsync_state; the monolith when nothing was ever carried).
   */
  async ownership(domain: string): Promise<OwnershipState> {
    // Without the table no hand-over ever reached this database: the monolith owns (writing a change of ownership then says what to run).
    const r = await this.client.query<{ owner: Owner; epoch: string }>('SELECT owner, epoch FROM strangler.backsync_state WHERE domain = $1', [domain]).catch((err: { code?: string }) => {
      if (err.code === '42P01') return { rows: [] as Array<{ owner: Owner; epoch: string }> };
      throw err;
    });
    const row = r.rows[0];
    return row ? { owner: row.owner, epoch: Number(row.epoch) } : { owner: 'monolith', epoch: 0 };
  }

  /**
   * One service transaction's changes for this tenant, as one transaction
   * here, with the origin's progress moved to `upTo` (the offset after its
   * last event) in it, and the ownership it ends with when it changed it.
   */
  async apply(events: readonly ChangeEvent[], upTo: bigint, tenantColumn: string, ownership: (OwnershipState & { domain: string; serviceTime?: string | null }) | null = null): Promise<void> {
    const c = this.client;
    await c.query('BEGIN');
    try {
      await c.query('SELECT pg_replication_origin_xact_setup($1::pg_lsn, now())', [toLsn(upTo)]);
      for (const e of events) await this.write(e, tenantColumn);
      if (ownership !== null) {
        if ((await c.query("SELECT to_regclass('strangler.backsync_state') IS NULL AS missing")).rows[0]?.missing) {
          throw new BackSyncError('STR_ERR_BACKSYNC_CONFIG', `${this.tenant}'s monolith database has no strangler.backsync_state, where back-sync records who owns ${ownership.domain}: run the toolkit's migrations on it (npm run migrate -- monolith-cdc --database-url <url>)`, { context: { tenant: this.tenant } });
        }
        await c.query(
          `INSERT INTO strangler.backsync_state (domain, owner, epoch, applied_at, service_time) VALUES ($1, $2, $3, now(), $4::timestamptz)
           ON CONFLICT (domain) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch, applied_at = now(), service_time = EXCLUDED.service_time`,
          [ownership.domain, ownership.owner, ownership.epoch, ownership.serviceTime ?? null],
        ).catch((err: Error & { code?: string }) => {
          if (err.code !== '42703') throw err;
          throw new BackSyncError('STR_ERR_BACKSYNC_CONFIG', `${this.tenant}'s monolith database has an older strangler.backsync_state (no service_time): run the toolkit's migrations on it (npm run migrate -- monolith-cdc --database-url <url>)`, { cause: err, context: { tenant: this.tenant } });
        });
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /**
   * Moves the origin's progress to `upTo` without writing anything: the
   * changes before it were made while the service did not own the tenant,
   * and must never be carried, even if the topic is read again later (a
   * fresh consumer group, a reset) after the service owns it. The origin is
   * released from this session for the moment it is advanced.
   */
  async skip(upTo: bigint): Promise<void> {
    const c = this.client;
    await c.query('SELECT pg_replication_origin_session_reset()');
    try {
      await c.query('SELECT pg_replication_origin_advance($1, $2::pg_lsn)', [this.origin, toLsn(upTo)]);
    } finally {
      await c.query('SELECT pg_replication_origin_session_setup($1)', [this.origin]);
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }

  private async write(e: ChangeEvent, tenantColumn: string): Promise<void> {
    const name = `${e.source.schema}.${e.source.table}`;
    const t = await this.table(name);
    if (e.op === 't') {
      // A truncate in the service empties the service's rows of every tenant: never carried into a monolith.
      throw new BackSyncError('STR_ERR_BACKSYNC_TABLE', `a TRUNCATE of ${name} in the service database is not carried back: it would empty ${this.tenant}'s monolith table. Delete the rows instead`, { context: { table: name } });
    }
    if (e.op === 'd') {
      const before = e.before ?? e.key;
      await this.client.query(`DELETE FROM ${qt(name)} WHERE ${t.key.map((k, i) => `${q(k)} = $${i + 1}::${t.types.get(k)}`).join(' AND ')}`, t.key.map((k) => value(before, k)));
      return;
    }
    const after = e.after!;
    if (e.op === 'u' && e.before && t.key.some((k) => String(e.before![k]) !== String(after[k]))) {
      await this.client.query(`DELETE FROM ${qt(name)} WHERE ${t.key.map((k, i) => `${q(k)} = $${i + 1}::${t.types.get(k)}`).join(' AND ')}`, t.key.map((k) => value(e.before!, k)));
    }
    const cols = Object.keys(after).filter((col) => col !== tenantColumn && t.types.has(col) && after[col] !== UNAVAILABLE);
    const missing = t.key.filter((k) => !cols.includes(k));
    if (missing.length > 0) throw new BackSyncError('STR_ERR_BACKSYNC_TABLE', `${name}: the service's row lacks the monolith's key column(s) ${missing.join(', ')}`, { context: { table: name } });
    const rest = cols.filter((col) => !t.key.includes(col));
    const sql =
      `INSERT INTO ${qt(name)} (${cols.map(q).join(', ')}) VALUES (${cols.map((col, i) => `$${i + 1}::${t.types.get(col)}`).join(', ')}) ` +
      `ON CONFLICT (${t.key.map(q).join(', ')}) DO ${rest.length === 0 ? 'NOTHING' : `UPDATE SET ${rest.map((col) => `${q(col)} = EXCLUDED.${q(col)}`).join(', ')}`}`;
    await this.client.query(sql, cols.map((col) => value(after, col)));
  }

  private async table(name: string): Promise<TableInfo> {
    const known = this.tables.get(name);
    if (known) return known;
    const [schema, table] = name.split('.') as [string, string];
    const cols = await this.client.query<{ name: string; type: string; key: boolean }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
              EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS key
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum`,
      [schema, table],
    );
    const key = cols.rows.filter((r) => r.key).map((r) => r.name);
    if (cols.rows.length === 0 || key.length === 0) {
      throw new BackSyncError('STR_ERR_BACKSYNC_TABLE', `${name} ${cols.rows.length === 0 ? 'is not' : 'has no primary key'} in ${this.tenant}'s monolith database: back-sync writes owned tables by their primary key`, { context: { table: name, tenant: this.tenant } });
    }
    const info = { key, types: new Map(cols.rows.map((r) => [r.name, r.type])) };
    this.tables.set(name, info);
    return info;
  }
}

/** A value as a parameter: JSON as its exact text, the rest as node-postgres sends it. */
function value(row: Row, col: string): unknown {
  const v = row[col];
  if (v === null || v === undefined) return null;
  const text = jsonText(row, col);
  if (text !== undefined) return text;
  if (typeof v === 'object' && !Buffer.isBuffer(v) && !Array.isArray(v)) return JSON.stringify(v);
  return v;
}

/** An offset position as an LSN (`hi/lo` in hex) and back. */
export function toLsn(n: bigint): string {
  return `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function fromLsn(lsn: string | null): bigint {
  if (lsn === null) return 0n;
  const [hi, lo] = lsn.split('/') as [string, string];
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}
