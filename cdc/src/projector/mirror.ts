import type { Knex } from 'knex';
import type pg from 'pg';
import { copyColumn, copyRow, jsonText, UNAVAILABLE, type ChangeEvent, type Row } from '../events/change-event';
import { HEARTBEAT_TABLE } from '../connector-config';
import { CdcError } from '../errors';
import { connectSource } from '../source-db';
import { columnDefinition, MirrorSchema, notBackfilled, q, qt, reconcileCopy, type RefreshSpec } from './mirror-schema';
import type { Projection } from './types';

export interface MirrorColumn {
  readonly name: string;
  /** The source's own type, as format_type() spells it: numeric(18,2), text[], jsonb, timestamp with time zone. */
  readonly type: string;
  readonly notNull: boolean;
  /**
   * A stored generated column's expression (pg_get_expr). PostgreSQL does
   * not publish generated columns, so the copy computes them itself from the
   * same expression, and nothing ever writes them.
   */
  readonly generated?: string;
  /**
   * The value rows older than the column hold, as text: a column added with a
   * constant default (PostgreSQL's "missing value": those rows are not
   * rewritten, so no event ever carries it). Added to an existing copy with it.
   */
  readonly missing?: string;
  /**
   * The column's default, when it calls a volatile function (nextval for a
   * serial, clock_timestamp(), gen_random_uuid()). Added so, the column made
   * PostgreSQL rewrite every existing row with a value of its own, and a
   * rewrite sends no change events: a copy's older rows never get them.
   */
  readonly volatileDefault?: string;
}

export interface MirrorTable {
  /** `<schema>.<table>` in the monolith database. */
  readonly source: string;
  /** The table in the service's database (schema-qualified or not). */
  readonly target: string;
  readonly columns: readonly MirrorColumn[];
  /** The source's primary key columns; the copy's key is (tenant, ...key). */
  readonly key: readonly string[];
  /** Extra indexes on the copy, as column lists (tenant is put first). */
  readonly indexes?: readonly (readonly string[])[];
}

export interface TableSpecOptions {
  /** Extra indexes on the copy, as column lists (tenant is put first). */
  readonly indexes?: readonly (readonly string[])[];
  /**
   * The columns that identify a row, for a table with neither a primary key
   * nor a unique index on NOT NULL columns (an inherited join table, say).
   * They must identify a row in the source: rows that share them are one row
   * in the copy. Used as given, even where the table has a key of its own.
   */
  readonly key?: readonly string[];
}

/**
 * Reads a table's columns and key from a source database's catalog, exactly
 * as declared, so the copy keeps every type: works on any table. The key is
 * the primary key, else the narrowest unique index on NOT NULL columns
 * (neither partial nor on expressions), else the configured `key`.
 */
export async function readTableSpec(sourceUrl: string, source: string, target: string, options: TableSpecOptions = {}): Promise<MirrorTable> {
  const indexes = options.indexes ?? [];
  const [schema, table] = source.includes('.') ? (source.split('.') as [string, string]) : ['public', source];
  const client = await connectSource(sourceUrl, (reason, at) => `cannot read ${source}: the source database ${at} does not accept connections (${reason})`);
  try {
    // The copy's database has none of the monolith's own types: an enum is kept as text (its label, as
    // Debezium sends it), a domain as its base type (with its typmod), an extension's type (citext, hstore)
    // as text; arrays of those as text[].
    const cols = await client.query<{ name: string; type: string; not_null: boolean; generated: string | null; missing: string | null; volatile_default: string | null }>(
      `WITH RECURSIVE base AS (
         SELECT a.attnum, a.atttypid AS typ, a.atttypmod AS mod, 0 AS depth FROM pg_attribute a
         WHERE a.attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)
           AND a.attnum > 0 AND NOT a.attisdropped
         UNION ALL
         SELECT b.attnum, t.typbasetype, t.typtypmod, b.depth + 1 FROM base b JOIN pg_type t ON t.oid = b.typ WHERE t.typtype = 'd'
       )
       SELECT a.attname AS name, a.attnotnull AS not_null,
         CASE WHEN a.attgenerated = 's' THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) END AS generated,
         CASE WHEN a.atthasmissing AND t.typcategory <> 'A' THEN (a.attmissingval::text::text[])[1] END AS missing,
         (SELECT x.expr FROM (SELECT pg_get_expr(d.adbin, d.adrelid) AS expr FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated = '') x
           WHERE EXISTS (SELECT 1 FROM regexp_matches(x.expr, '([A-Za-z_][A-Za-z0-9_$]*)\\(', 'g') m JOIN pg_proc p ON p.proname = m[1] AND p.provolatile = 'v')) AS volatile_default,
         CASE WHEN t.typtype = 'e' OR (e.oid IS NULL AND t.typnamespace <> 'pg_catalog'::regnamespace) THEN 'text'
              WHEN e.typtype = 'e' OR e.typnamespace <> 'pg_catalog'::regnamespace THEN 'text[]'
              ELSE format_type(r.typ, r.mod) END AS type
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN LATERAL (SELECT typ, mod FROM base WHERE base.attnum = a.attnum ORDER BY depth DESC LIMIT 1) r ON true
       JOIN pg_type t ON t.oid = r.typ LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
       WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [schema, table],
    );
    if (cols.rows.length === 0) throw unsuitable(source, `table ${source} not found in the source database`);
    const columns = cols.rows.map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.not_null,
      ...(c.generated ? { generated: c.generated } : {}),
      ...(c.missing !== null ? { missing: c.missing } : {}),
      ...(c.volatile_default !== null ? { volatileDefault: c.volatile_default } : {}),
    }));
    const key = chooseKey(source, columns, await identifyingIndexes(client, schema, table), options.key);
    return { source: `${schema}.${table}`, target, columns, key, indexes };
  } catch (err) {
    if (err instanceof CdcError) throw err;
    throw new CdcError('STR_ERR_CDC_SOURCE_UNAVAILABLE', `cannot read ${source} from the source database: ${(err as Error).message}`, { cause: err, retriable: true });
  } finally {
    await client.end();
  }
}


interface IdentifyingIndex {
  readonly name: string;
  readonly primary: boolean;
  readonly columns: readonly string[];
}

/** The table's primary key and unique indexes that can identify a row (plain columns, not partial), narrowest first. */
async function identifyingIndexes(client: pg.Client, schema: string, table: string): Promise<IdentifyingIndex[]> {
  const { rows } = await client.query<{ name: string; primary: boolean; columns: string[] }>(
    `SELECT ic.relname AS name, i.indisprimary AS primary,
            array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)
        AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
        AND i.indisvalid
      GROUP BY ic.relname, i.indisprimary, i.indnkeyatts
      ORDER BY i.indisprimary DESC, i.indnkeyatts, ic.relname`,
    [schema, table],
  );
  return rows;
}

/**
 * The key the copy is keyed by (tenant in front): a row's identity in the
 * source, so updates, deletes and key changes land on the right row.
 */
export function chooseKey(source: string, columns: readonly MirrorColumn[], indexes: readonly IdentifyingIndex[], configured: readonly string[] | undefined): string[] {
  const notNull = new Set(columns.filter((c) => c.notNull).map((c) => c.name));
  const own = indexes.find((i) => i.primary) ?? indexes.find((i) => i.columns.every((c) => notNull.has(c)));
  // A configured key wins: the copy was made with it, and a key the monolith adds later (a migration read
  // again by refresh) must not change which rows are one.
  if (configured !== undefined) {
    const unknown = configured.filter((c) => !columns.some((col) => col.name === c));
    if (configured.length === 0 || unknown.length > 0) {
      throw unsuitable(source, `the key configured for ${source} names ${configured.length === 0 ? 'no column' : `columns the table does not have: ${unknown.join(', ')}`} (its columns: ${columns.map((c) => c.name).join(', ')})`);
    }
    return [...configured];
  }
  if (own) return [...own.columns];
  throw unsuitable(
    source,
    `table ${source} has no primary key and no unique index on NOT NULL columns, so a mirror cannot tell its rows apart: add a primary key to the monolith's table, or configure the columns that identify a row (key: [...])`,
  );
}

function unsuitable(source: string, message: string): CdcError {
  return new CdcError('STR_ERR_CDC_TABLE_UNSUITABLE', message, { context: { source } });
}

/** The topic pattern of one source table across every tenant: `<tenant>.<schema>.<table>`. */
export function tenantTopics(source: string): RegExp {
  const esc = source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^[a-z][a-z0-9_]*\\.${esc}$`);
}

export interface MirrorOptions {
  /** Only these tenants' topics (default: every tenant's, by pattern). */
  readonly tenants?: readonly string[];
  /**
   * Reads a table's spec again from its source catalog when events carry a
   * column the mirror does not know (a migration added it); without it, such
   * events wait (a retriable error) until the projection starts again.
   */
  readonly refresh?: RefreshSpec;
  /**
   * Also reads each tenant's heartbeat topic (`<tenant>.strangler.cdc_heartbeat`,
   * which the connector writes every few seconds) and applies nothing from
   * it: its checkpoint then says how far the capture has got while the
   * tables are idle, and freshnessReport sees a capture or Kafka that stalled.
   */
  readonly heartbeats?: boolean;
  /**
   * Told what the mirror cannot do and goes on without: a source column that
   * Debezium never sends (STR_ERR_CDC_COLUMN_NOT_CAPTURED; needs `refresh`
   * to tell it from a column the monolith dropped).
   */
  readonly onWarning?: (warning: CdcError) => void;
}

/**
 * A projection that keeps a copy of monolith tables in the service's database,
 * for every tenant: every column with its source type, a tenant column in
 * front, deletes and truncates applied, primary-key changes followed, a
 * value Debezium could not send (unchanged TOAST) never written over a real
 * one, and the monolith's migrations followed (see MirrorSchema).
 */
export function mirrorProjection(name: string, tables: readonly MirrorTable[], options: MirrorOptions = {}): Projection {
  const bySource = new Map(tables.map((t) => [t.source, new MirrorSchema(t, options.refresh, options.onWarning)]));
  // Every tenant's topics by pattern (the projector looks for new matching topics every few seconds: a tenant onboarded is taken in), or named tenants' topics.
  const sources = [...tables.map((t) => t.source), ...(options.heartbeats ? [HEARTBEAT_TABLE] : [])];
  const topics = options.tenants
    ? options.tenants.flatMap((tenant) => sources.map((source) => `${tenant}.${source}`))
    : new RegExp(sources.map((source) => tenantTopics(source).source).join('|'));
  return {
    name,
    topics,
    rebuild: {
      tables: tables.map((t) => (t.target.includes('.') ? t.target : `public.${t.target}`)),
      into: (schema) =>
        mirrorProjection(
          `${name}~${schema}`,
          tables.map((t) => ({ ...t, target: `${schema}.${t.target.includes('.') ? t.target.split('.')[1]! : t.target}` })),
          options,
        ),
    },
    async setup(db) {
      for (const t of tables) {
        const cols = t.columns.map(columnDefinition);
        const schema = t.target.includes('.') ? t.target.split('.')[0]! : null;
        if (schema) await db.raw(`CREATE SCHEMA IF NOT EXISTS ${q(schema)}`);
        await db.raw(`CREATE TABLE IF NOT EXISTS ${qt(t.target)} (tenant text NOT NULL, ${cols.join(', ')}, PRIMARY KEY (tenant, ${t.key.map(q).join(', ')}))`);
        for (const added of await reconcileCopy(db, t)) {
          // Added to a copy that existed: the monolith added it while the service was down.
          const column = t.columns.find((c) => c.name === added);
          if (column?.volatileDefault !== undefined) options.onWarning?.(notBackfilled(t, column));
        }
        for (const idx of t.indexes ?? []) {
          const idxName = `${t.target.replace(/\W/g, '_')}_${idx.join('_')}_idx`.slice(0, 63);
          await db.raw(`CREATE INDEX IF NOT EXISTS ${q(idxName)} ON ${qt(t.target)} (tenant, ${idx.map(q).join(', ')})`);
        }
      }
    },
    async apply(events, trx) {
      const first = events[0]!;
      const schema = bySource.get(`${first.source.schema}.${first.source.table}`);
      if (!schema) return; // the heartbeat topic, or a topic of this pattern for a table not mirrored here
      await schema.follow(events, trx);
      try {
        await applyMirror(schema.table, events, trx);
      } catch (err) {
        throw await schema.explain(err);
      }
    },
  };
}

type Action = { kind: 'upsert'; row: Row; partial: boolean } | { kind: 'delete' };

async function applyMirror(table: MirrorTable, events: readonly ChangeEvent[], trx: Knex.Transaction): Promise<void> {
  const tenant = events[0]!.tenant;
  let pending = new Map<string, { key: unknown[]; action: Action }>();
  const keyOf = (row: Row) => table.key.map((k) => row[k]);
  const flush = async () => {
    if (pending.size > 0) await writeActions(table, tenant, [...pending.values()], trx);
    pending = new Map();
  };
  for (const e of events) {
    if (e.op === 't') {
      await flush();
      await trx.raw(`DELETE FROM ${qt(table.target)} WHERE tenant = ?`, [tenant]);
      continue;
    }
    if (e.op === 'd') {
      const k = keyOf(e.before ?? e.key);
      pending.set(JSON.stringify(k), { key: k, action: { kind: 'delete' } });
      continue;
    }
    const after = e.after!;
    if (e.op === 'u' && e.before) {
      const oldKey = keyOf(e.before);
      const newKey = keyOf(after);
      if (JSON.stringify(oldKey) !== JSON.stringify(newKey)) pending.set(JSON.stringify(oldKey), { key: oldKey, action: { kind: 'delete' } });
    }
    const k = keyOf(after);
    const ks = JSON.stringify(k);
    const prev = pending.get(ks);
    let row = after;
    let partial = hasUnavailable(after);
    if (partial) {
      // Fill what Debezium could not send from the before-image, or from an earlier event of this batch.
      const filled = copyRow(after);
      for (const c of Object.keys(filled)) {
        if (filled[c] !== UNAVAILABLE) continue;
        if (prev?.action.kind === 'upsert' && prev.action.row[c] !== UNAVAILABLE) copyColumn(filled, prev.action.row, c);
        else if (e.before && e.before[c] !== UNAVAILABLE && e.before[c] !== undefined) copyColumn(filled, e.before, c);
      }
      row = filled;
      partial = hasUnavailable(filled);
    }
    pending.set(ks, { key: k, action: { kind: 'upsert', row, partial } });
  }
  await flush();
}

function hasUnavailable(row: Row): boolean {
  for (const k in row) if (row[k] === UNAVAILABLE) return true;
  return false;
}

async function writeActions(table: MirrorTable, tenant: string, actions: Array<{ key: unknown[]; action: Action }>, trx: Knex.Transaction): Promise<void> {
  const target = qt(table.target);
  const deletes = actions.filter((a) => a.action.kind === 'delete');
  const upserts = actions.filter((a): a is { key: unknown[]; action: { kind: 'upsert'; row: Row; partial: boolean } } => a.action.kind === 'upsert');
  for (let i = 0; i < deletes.length; i += 1000) {
    const part = deletes.slice(i, i + 1000);
    const tuple = `(${table.key.map(() => '?').join(', ')})`;
    await trx.raw(`DELETE FROM ${target} WHERE tenant = ? AND (${table.key.map(q).join(', ')}) IN (${part.map(() => tuple).join(', ')})`, [tenant, ...part.flatMap((p) => p.key as Knex.Value[])]);
  }
  // Rows are written by the columns they carry: a column the monolith dropped is absent from its events and is
  // never written over (updates leave it, new rows get NULL). Nearly always one group.
  // Generated columns are the copy's to compute: never written (a snapshot's rows carry them, the stream's do not).
  const writable = table.columns.some((c) => c.generated !== undefined) ? table.columns.filter((c) => c.generated === undefined) : table.columns;
  const groups = new Map<string, { cols: MirrorColumn[]; rows: typeof upserts }>();
  for (const u of upserts) {
    if (u.action.partial) continue;
    const row = u.action.row;
    let carried = writable.length;
    for (const c of writable) if (!(c.name in row)) carried--;
    const cols = carried === writable.length ? writable : writable.filter((c) => c.name in row);
    const sig = carried === writable.length ? '' : cols.map((c) => c.name).join('\u0000');
    const g = groups.get(sig) ?? { cols: [...cols], rows: [] };
    groups.set(sig, g);
    g.rows.push(u);
  }
  for (const { cols, rows: group } of groups.values()) {
    const setList = cols.filter((c) => !table.key.includes(c.name)).map((c) => `${q(c.name)} = excluded.${q(c.name)}`);
    const conflict = `ON CONFLICT (tenant, ${table.key.map(q).join(', ')}) DO ${setList.length ? `UPDATE SET ${setList.join(', ')}` : 'NOTHING'}`;
    const list = ['tenant', ...cols.map((c) => c.name)].map(q).join(', ');
    // A json or jsonb column travels as its source text in a JSON string, made the column's value again from that
    // text: exact (jsonb's numbers are numeric, json keeps its text), where a JavaScript value would round.
    const json = cols.filter(isJson);
    const special = cols.flatMap((c) => {
      const write = sqlText(c);
      return write ? [[c.name, write] as const] : [];
    });
    const select = [q('tenant'), ...cols.map((c) => (isJson(c) ? `(${q(c.name)} #>> '{}')::${c.type}` : q(c.name)))].join(', ');
    // One parameter per statement: the rows as a JSON array, typed by PostgreSQL after the copy's own row type
    // (json_populate_recordset). Far cheaper to build and to parse than tens of thousands of bound values.
    for (let i = 0; i < group.length; i += ROWS_PER_STATEMENT) {
      const rows = group.slice(i, i + ROWS_PER_STATEMENT).map((u) => {
        const row = u.action.row;
        const o: Record<string, unknown> = { tenant };
        for (const c of cols) o[c.name] = toJsonValue(row[c.name]);
        for (const [name, write] of special) if (o[name] !== null) o[name] = write(row[name]);
        for (const c of json) {
          // JSON null has its text ("null"), SQL NULL has none.
          const text = jsonText(row, c.name);
          if (text !== undefined) o[c.name] = text;
          else if (o[c.name] !== null) o[c.name] = JSON.stringify(o[c.name]);
        }
        return o;
      });
      await trx.raw(`INSERT INTO ${target} (${list}) SELECT ${select} FROM json_populate_recordset(NULL::${target}, ?::json) ${conflict}`, [JSON.stringify(rows)]);
    }
  }
  // Rows with values still unknown: update only what is known; never insert a guess.
  for (const u of upserts.filter((x) => x.action.partial)) {
    const known = writable.filter((c) => c.name in u.action.row && u.action.row[c.name] !== UNAVAILABLE && !table.key.includes(c.name));
    if (known.length === 0) continue;
    await trx.raw(
      `UPDATE ${target} SET ${known.map((c) => `${q(c.name)} = ?`).join(', ')} WHERE tenant = ? AND ${table.key.map((k) => `${q(k)} = ?`).join(' AND ')}`,
      [...known.map((c) => toSql(c, u.action.row, c.name)), tenant, ...(u.key as Knex.Value[])],
    );
  }
}

const ROWS_PER_STATEMENT = 5000;

/** A value as json_populate_recordset reads it into the column's type: bytes as bytea's hex text, JSON kept as JSON. */
function toJsonValue(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  if (Array.isArray(v)) return v.map((x) => (Buffer.isBuffer(x) ? `\\x${x.toString('hex')}` : x));
  return v;
}

// pg's own array literal encoder: knex would expand a JS array binding into a value list.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { prepareValue } = require('pg/lib/utils') as { prepareValue(v: unknown): unknown };

const isJson = (c: MirrorColumn) => c.type === 'json' || c.type === 'jsonb';

/**
 * An ISO date or timestamp as PostgreSQL reads it: ISO 8601 writes a year
 * past 9999 with a sign (+12345) and years before 1 AD as 0, -1, -2 ...
 * (astronomical numbering), where PostgreSQL wants 12345 and 1 BC, 2 BC, 3 BC.
 */
function pgDate(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  if (v[0] === '+') return v.slice(1);
  const bc = /^(-?)(\d{4,})(-.*)$/.exec(v);
  if (!bc || (bc[1] === '' && Number(bc[2]) !== 0)) return v;
  return `${String(Number(bc[2]) + 1).padStart(4, '0')}${bc[3]} BC`;
}

/**
 * For a column whose values Debezium sends in a form of its own, what makes
 * the column's input text of one: a point comes as {x, y, wkb, srid}; a
 * bit(1) as a boolean; a longer bit string as the bytes of its bits read as
 * one big-endian number, which a bit(n) pads back to n (a bit varying's
 * leading zeros are not in those bytes: Debezium's encoding loses them).
 */
function sqlText(c: MirrorColumn): ((v: unknown) => unknown) | null {
  if (c.type === 'date' || c.type.startsWith('timestamp')) return pgDate;
  if (c.type === 'point') return (v) => (v !== null && typeof v === 'object' && 'x' in v && 'y' in v ? `(${String(v.x)},${String(v.y)})` : v);
  const bits = /^bit(?: varying)?(?:\((\d+)\))?$/.exec(c.type);
  if (!bits) return null;
  const width = c.type.startsWith('bit varying') ? 0 : Number(bits[1] ?? 1);
  return (v) => {
    if (typeof v === 'boolean') return v ? '1' : '0';
    if (!Buffer.isBuffer(v)) return v;
    const digits = v.length === 0 ? '' : BigInt(`0x${v.toString('hex')}`).toString(2);
    return digits.padStart(width, '0');
  };
}

function toSql(c: MirrorColumn, row: Row, column: string): Knex.Value {
  const v = row[column];
  const text = isJson(c) ? jsonText(row, column) : undefined;
  if (text !== undefined) return text;
  if (v === undefined || v === null) return null;
  if (isJson(c)) return JSON.stringify(v);
  const write = sqlText(c);
  if (write) return write(v) as Knex.Value;
  if (Array.isArray(v)) return prepareValue(v) as string;
  return v as Knex.Value;
}
