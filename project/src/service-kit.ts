import { lsnValue, type FreshnessReport } from '@strangler/cdc';
import { Client } from 'pg';

/**
 * What a service made by `strangler new service` uses besides its mirror:
 * its routes' shape and the checks its parity test needs. Small on purpose:
 * the generated code stays the team's to read and change.
 */

/** One route a service serves from a copy: `GET <path>` answers the row whose key the path carries. */
export interface CopyRoute {
  /** `schema.table` in the monolith. */
  readonly source: string;
  /** The copy in the service's database. */
  readonly copy: string;
  /** The key's columns, in order. */
  readonly key: readonly string[];
  /** Express / proxy path template, one `:param` per key column (same order). */
  readonly path: string;
  /** The path parameter of each key column (same order as key). */
  readonly params: readonly string[];
}

const PLAIN = /^[a-z_][a-z0-9_]*$/;

/** The route for a table's copy: `<prefix>/<copy>/:k1/:k2`; a column that is not a plain name becomes `:k<n>`. */
export function copyRoute(source: string, copy: string, key: readonly string[], prefix = ''): CopyRoute {
  const params = key.map((c, i) => (PLAIN.test(c) ? c : `k${i + 1}`));
  const base = `${prefix.replace(/\/+$/, '')}/${copy}`;
  return { source, copy, key, params, path: `${base}/${params.map((p) => `:${p}`).join('/')}` };
}

/** The path of one row's route. */
export function rowPath(route: CopyRoute, key: readonly unknown[]): string {
  let i = 0;
  return route.path.replace(/:[A-Za-z0-9_]+/g, () => encodeURIComponent(keyText(key[i++])));
}

function keyText(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Up to `limit` keys of a monolith table, in key order (what a parity test asks both sides about). */
export async function sampleKeys(databaseUrl: string, route: CopyRoute, limit = 5): Promise<unknown[][]> {
  const [schema, table] = route.source.split('.') as [string, string];
  const cols = route.key.map(ident).join(', ');
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query({ text: `SELECT ${cols} FROM ${ident(schema)}.${ident(table)} ORDER BY ${cols} LIMIT $1`, values: [limit], rowMode: 'array' });
    return rows as unknown[][];
  } finally {
    await c.end();
  }
}

/**
 * Resolves once the service's copies hold everything the tenant's monolith
 * database had committed when this was called: its /freshness shows an
 * applied position (the mirror's heartbeats move it even when no table
 * changes) at or past the database's WAL position. Rejects after timeoutMs,
 * saying where the copy stands.
 */
export async function waitUntilCopied(serviceUrl: string, tenant: string, databaseUrl: string, timeoutMs = 60_000): Promise<void> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  let target: bigint;
  try {
    target = lsnValue((await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
  } finally {
    await c.end();
  }
  const until = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const res = await fetch(`${serviceUrl.replace(/\/$/, '')}/freshness`, { signal: AbortSignal.timeout(5000) });
      const report = (await res.json()) as FreshnessReport;
      const t = report.tenants.find((x) => x.tenant === tenant);
      if (t?.appliedLsn && lsnValue(t.appliedLsn) >= target) return;
      last = t ? `applied through ${t.appliedLsn ?? '(loading)'}, ${t.pending} event(s) pending` : `no partition of tenant ${tenant} assigned yet`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > until) throw new Error(`the copies of tenant ${tenant} did not reach the monolith's position in ${timeoutMs} ms (${last}): is its connector streaming (strangler cdc status) and the mirror running?`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
