import pg from 'pg';
import { redactUrl } from '@strangler/common';
import { ProxyError } from '../errors';

export interface DataParityOptions {
  /** The tenant's monolith database. */
  readonly sourceUrl: string;
  /** The extracted service's database (a tenant column on every table). */
  readonly serviceUrl: string;
  readonly tenant: string;
  /** `[schema.]table` in the monolith database. */
  readonly table: string;
  /** The copy in the service database. @default the same name */
  readonly serviceTable?: string;
  /** Buckets the key space is hashed into. @default 1024 */
  readonly buckets?: number;
  /** Differing rows printed at most. @default 50 */
  readonly maxRows?: number;
  /**
   * The columns that pair a monolith row with its copy. @default the
   * monolith table's primary key, else the copy's (without `tenant`): for a
   * table without one, the key the mirror chose or was given.
   */
  readonly key?: readonly string[];
}

export interface RowDifference {
  /** The key that pairs the rows, column by column, each value as PostgreSQL prints it. */
  readonly key: Readonly<Record<string, string>>;
  /** missing: only the monolith has it; extra: only the service has it; changed: both, different values. */
  readonly kind: 'missing' | 'extra' | 'changed';
  /** Changed columns, each value as its exact JSON text (`777.49`, `"acct-1"`, `["a","b"]`). */
  readonly columns: ReadonlyArray<{ readonly column: string; readonly source: string | undefined; readonly service: string | undefined }>;
}

export interface DataParityReport {
  readonly tenant: string;
  readonly table: string;
  readonly serviceTable: string;
  readonly equal: boolean;
  readonly rows: { readonly source: number; readonly service: number };
  /** Columns only one side has (compared rows ignore them). */
  readonly schema: { readonly onlyInSource: readonly string[]; readonly onlyInService: readonly string[] };
  readonly buckets: { readonly total: number; readonly differing: number };
  readonly differences: readonly RowDifference[];
  /** More differing rows than printed. */
  readonly truncated: boolean;
  readonly ms: number;
}

/** Rows per side read at once when narrowing differing buckets down to rows. */
const READ_ROWS = 100_000;

const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
const qt = (name: string) => name.split('.').map(q).join('.');

interface Side {
  readonly client: pg.Client;
  readonly table: string;
  readonly where: string;
  readonly params: unknown[];
}

/**
 * Output settings for both sessions, so that equal values print as equal
 * text on two servers whatever their defaults (a timestamptz prints in the
 * session's time zone, a float with its extra digits, and so on).
 */
const CANONICAL_OUTPUT = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'";

/**
 * Data parity of one table for one tenant: per side, every row hashed into
 * buckets by key; equal bucket sums and counts mean equal tables. A row's
 * hash is a 64-bit hash of the record text of the columns both sides have,
 * listed in one order for both (so column order in either table does not
 * matter), printed under the same output settings. Only the buckets that
 * differ are read row by row, so one changed row among 1,000,000 costs two
 * scans and two reads of one bucket. Both sides run at once.
 */
export async function compareTableData(o: DataParityOptions): Promise<DataParityReport> {
  const started = performance.now();
  const buckets = o.buckets ?? 1024;
  const serviceTable = o.serviceTable ?? o.table;
  const source = await connect(o.sourceUrl, 'monolith');
  let service: pg.Client;
  try {
    service = await connect(o.serviceUrl, 'service');
  } catch (err) {
    await source.end();
    throw err;
  }
  try {
    const sourceCols = await columns(source, o.table, 'monolith');
    const serviceCols = await columns(service, serviceTable, 'service');
    const key = o.key ? [...o.key] : await pairingKey(source, o.table, service, serviceTable);
    const missingInSource = key.filter((k) => !sourceCols.includes(k));
    if (key.length === 0 || missingInSource.length > 0) throw new ProxyError('STR_ERR_PARITY_DATA_SOURCE', `the key ${JSON.stringify(key)} names column(s) ${o.table} does not have in the monolith database: ${missingInSource.join(', ') || 'none named'}`);
    const common = sourceCols.filter((c) => serviceCols.includes(c));
    const schema = { onlyInSource: sourceCols.filter((c) => !serviceCols.includes(c)), onlyInService: serviceCols.filter((c) => !sourceCols.includes(c) && c !== 'tenant') };
    const missingKey = key.filter((k) => !serviceCols.includes(k));
    if (missingKey.length > 0) throw new ProxyError('STR_ERR_PARITY_DATA_SOURCE', `${serviceTable} in the service database lacks the key column(s) ${missingKey.join(', ')}`);
    // ROW() of the common columns in one order; its text is unambiguous (record_out quotes what needs it, NULL prints as nothing, '' as "").
    const rowHash = `hashtextextended(ROW(${common.map((c) => `t.${q(c)}`).join(', ')})::text, 0)`;
    const src: Side = { client: source, table: qt(o.table), where: 'TRUE', params: [] };
    const svc: Side = { client: service, table: qt(serviceTable), where: 't.tenant = $1', params: [o.tenant] };
    const keyText = key.length === 1 ? `t.${q(key[0]!)}::text` : `concat_ws('|', ${key.map((k) => `t.${q(k)}::text`).join(', ')})`;
    const bucketOf = `mod(mod(hashtextextended(${keyText}, 0), ${buckets}) + ${buckets}, ${buckets})`;

    const sums = async (s: Side) => {
      const { rows } = await s.client.query<{ b: string; n: string; s: string }>(`SELECT ${bucketOf} AS b, count(*) AS n, sum(${rowHash}) AS s FROM ${s.table} t WHERE ${s.where} GROUP BY 1`, s.params);
      return new Map(rows.map((r) => [Number(r.b), `${r.n}:${r.s}`]));
    };
    const [a, b] = await Promise.all([sums(src), sums(svc)]);
    const count = (m: Map<number, string>) => [...m.values()].reduce((n, v) => n + Number(v.split(':')[0]), 0);
    const differing = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
    const differences: RowDifference[] = [];
    let truncated = false;
    if (differing.length > 0) {
      // Keys as text: the two sides may type them differently (int here, bigint there) and must still pair.
      const keyCols = key.map((k) => `t.${q(k)}::text AS ${q(`k_${k}`)}`).join(', ');
      const rowsOf = async (s: Side, read: number[]) => {
        const p = s.params.length + 1;
        // Each value twice: its text, as hashed, to find the changed columns, and its JSON text to show them (exact: a numeric(18,2) stays 777.49, never a float).
        const { rows } = await s.client.query<Record<string, unknown> & { h: string; text: Array<string | null>; json: string[] }>(
          `SELECT ${keyCols}, ${rowHash} AS h, ARRAY[${common.map((c) => `t.${q(c)}::text`).join(', ')}]::text[] AS text, ARRAY[${common.map((c) => `to_jsonb(t.${q(c)})::text`).join(', ')}]::text[] AS json FROM ${s.table} t WHERE ${s.where} AND ${bucketOf} = ANY($${p}::int[])`,
          [...s.params, read],
        );
        return new Map(rows.map((r) => [JSON.stringify(key.map((k) => r[`k_${k}`])), r]));
      };
      const keyObj = (r: Record<string, unknown>) => Object.fromEntries(key.map((k) => [k, r[`k_${k}`] as string]));
      const max = o.maxRows ?? 50;
      const push = (d: RowDifference) => {
        if (differences.length < max) differences.push(d);
        else truncated = true;
      };
      // Differing buckets are read a slice at a time (each read scans both tables once), about READ_ROWS rows per side,
      // until enough rows are found: a service table still empty costs one read, not a copy of the whole table in memory.
      const perBucket = Math.max(1, Math.max(count(a), count(b)) / buckets);
      const slice = Math.max(1, Math.floor(READ_ROWS / perBucket));
      for (let i = 0; i < differing.length; i += slice) {
        if (differences.length >= max) {
          truncated = true; // every differing bucket holds at least one differing row
          break;
        }
        const read = differing.slice(i, i + slice);
        const [ra, rb] = await Promise.all([rowsOf(src, read), rowsOf(svc, read)]);
        for (const [k, r] of ra) {
          const other = rb.get(k);
          if (!other) push({ key: keyObj(r), kind: 'missing', columns: [] });
          else if (other.h !== r.h) {
            const cols = common.flatMap((column, c) => (r.text[c] === other.text[c] ? [] : [{ column, source: r.json[c], service: other.json[c] }]));
            push({ key: keyObj(r), kind: 'changed', columns: cols });
          }
        }
        for (const [k, r] of rb) if (!ra.has(k)) push({ key: keyObj(r), kind: 'extra', columns: [] });
      }
    }
    return {
      tenant: o.tenant,
      table: o.table,
      serviceTable,
      equal: differing.length === 0,
      rows: { source: count(a), service: count(b) },
      schema,
      buckets: { total: buckets, differing: differing.length },
      differences,
      truncated,
      ms: Math.round(performance.now() - started),
    };
  } finally {
    await Promise.all([source.end(), service.end()]);
  }
}

async function connect(url: string, what: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query(CANONICAL_OUTPUT);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new ProxyError('STR_ERR_PARITY_DATA_SOURCE', `cannot connect to the ${what} database ${redactUrl(url)}: ${(err as Error).message}`, { cause: err, retriable: true });
  }
  return client;
}

async function columns(client: pg.Client, table: string, what: string): Promise<string[]> {
  const [schema, name] = table.includes('.') ? table.split('.') : ['public', table];
  const { rows } = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [schema, name],
  );
  if (rows.length === 0) throw new ProxyError('STR_ERR_PARITY_DATA_SOURCE', `no table ${table} in the ${what} database`);
  return rows.map((r) => r.name);
}

async function primaryKeyOf(client: pg.Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
    [qt(table.includes('.') ? table : `public.${table}`)],
  );
  return rows.map((r) => r.name);
}

/** The monolith table's primary key, else the copy's without its tenant column (a mirror keys a table without one by a unique index, or as configured). */
async function pairingKey(source: pg.Client, table: string, service: pg.Client, serviceTable: string): Promise<string[]> {
  const own = await primaryKeyOf(source, table);
  if (own.length > 0) return own;
  const copy = (await primaryKeyOf(service, serviceTable)).filter((k) => k !== 'tenant');
  if (copy.length > 0) return copy;
  throw new ProxyError('STR_ERR_PARITY_DATA_SOURCE', `${table} has no primary key in the monolith database, nor its copy ${serviceTable} in the service's: name the columns that pair the rows (--key col,col)`);
}

/** A terminal report. */
export function formatDataParity(r: DataParityReport): string {
  const lines = [
    `${r.equal ? 'EQUAL' : 'DIFFERENT'}  ${r.tenant}: ${r.table} (${r.rows.source} rows) vs service ${r.serviceTable} (${r.rows.service} rows)  ${r.buckets.differing}/${r.buckets.total} buckets differ  ${r.ms} ms`,
  ];
  if (r.schema.onlyInSource.length) lines.push(`  columns only in the monolith (not compared): ${r.schema.onlyInSource.join(', ')}`);
  if (r.schema.onlyInService.length) lines.push(`  columns only in the service (not compared): ${r.schema.onlyInService.join(', ')}`);
  for (const d of r.differences) {
    const key = Object.entries(d.key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',');
    if (d.kind === 'missing') lines.push(`  missing in the service: ${key}`);
    else if (d.kind === 'extra') lines.push(`  only in the service:    ${key}`);
    else lines.push(`  changed ${key}: ${d.columns.map((c) => `${c.column} ${c.source ?? '(absent)'} -> ${c.service ?? '(absent)'}`).join('; ')}`);
  }
  if (r.truncated) lines.push('  ... more differing rows (raise --max-rows)');
  return lines.join('\n');
}
