import type pg from 'pg';
import { readTableSpec } from '@strangler/cdc';

/** What `strangler init` found of one table, and what capturing and mirroring it will do. */
export interface TableReport {
  /** `schema.table`. */
  readonly table: string;
  /** The planner's estimate (pg_class.reltuples): no table is scanned. */
  readonly rowsEstimate: number | null;
  readonly partitioned: boolean;
  /** The columns a mirror keys the copy by (in front: the tenant), and where they come from; null: nothing identifies a row. */
  readonly key: { readonly columns: readonly string[]; readonly from: 'primary key' | 'unique index' } | null;
  /** For a table without a key: how to give it one (in the database, or in the project file for a mirror). */
  readonly howToKey?: string;
  /** Columns whose type the service's copy holds differently, and why. */
  readonly changedTypes: ReadonlyArray<{ readonly column: string; readonly from: string; readonly to: string; readonly why: string }>;
  /** Stored generated columns: PostgreSQL does not publish them; the copy computes them from the same expression. */
  readonly generated: readonly string[];
  /** Columns whose default calls a volatile function (a column added so gets values no change event carries). */
  readonly volatileDefaults: readonly string[];
}

/** Every user table of the database (not the toolkit's own `strangler` schema, not a partition: its parent stands for it). */
export async function userTables(db: pg.Client): Promise<string[]> {
  const { rows } = await db.query<{ t: string }>(
    `SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'strangler') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
  );
  return rows.map((r) => r.t);
}

/**
 * Reads each table as a mirror would (cdc's readTableSpec: the same code
 * that makes the copies) and says what it found: key, types changed, generated
 * columns. Nothing is changed, and no table is scanned.
 */
export async function readCatalog(db: pg.Client, url: string, tables: readonly string[]): Promise<TableReport[]> {
  const { rows } = await db.query<{ t: string; col: string; type: string; kind: string; typtype: string; estimate: number; partitioned: boolean; has_pk: boolean }>(
    `SELECT n.nspname || '.' || c.relname AS t, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS type, c.relkind AS kind, t.typtype,
            c.reltuples::float8 AS estimate, c.relkind = 'p' AS partitioned
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
      WHERE n.nspname || '.' || c.relname = ANY($1) ORDER BY 1, a.attnum`,
    [tables],
  );
  const declared = new Map<string, { estimate: number; partitioned: boolean; columns: Map<string, { type: string; typtype: string }> }>();
  for (const r of rows) {
    const t = declared.get(r.t) ?? { estimate: r.estimate, partitioned: r.partitioned, columns: new Map() };
    t.columns.set(r.col, { type: r.type, typtype: r.typtype });
    declared.set(r.t, t);
  }
  const reports: TableReport[] = [];
  for (const table of tables) {
    const d = declared.get(table);
    if (!d) continue;
    const spec = await readTableSpec(url, table, table).catch((err: { code?: string }) => {
      if (err.code === 'STR_ERR_CDC_TABLE_UNSUITABLE') return null;
      throw err;
    });
    // Without a key the spec is read again with every column as a stand-in key, only to see the columns' types.
    const columns = spec?.columns ?? (await readTableSpec(url, table, table, { key: [...d.columns.keys()].slice(0, 1) })).columns;
    const changedTypes = columns.flatMap((c) => {
      const from = d.columns.get(c.name);
      if (!from || from.type === c.type) return [];
      const why = from.typtype === 'e' ? 'an enum of the monolith: the copy keeps its labels as text' : from.typtype === 'd' ? "a domain of the monolith: the copy keeps its base type (the domain's checks stay in the monolith)" : "a type the service's database may not have (an extension's, a composite): the copy keeps its text form";
      return [{ column: c.name, from: from.type, to: c.type, why }];
    });
    const notNull = columns.filter((c) => c.notNull && c.generated === undefined).map((c) => c.name);
    reports.push({
      table,
      rowsEstimate: d.estimate < 0 ? null : Math.round(d.estimate),
      partitioned: d.partitioned,
      key: spec ? { columns: spec.key, from: (await isPrimary(db, table, spec.key)) ? 'primary key' : 'unique index' } : null,
      ...(spec
        ? {}
        : {
            howToKey:
              `give ${table} a primary key in the monolith (ALTER TABLE ${table} ADD PRIMARY KEY (...)), or, for a mirror, name the columns that identify a row in the project file: capture.keys.${table}: [${notNull.join(', ') || '<columns>'}]` +
              ' (they must be unique: rows that share them become one row in the copy)',
          }),
      changedTypes,
      generated: columns.filter((c) => c.generated !== undefined).map((c) => c.name),
      volatileDefaults: columns.filter((c) => c.volatileDefault !== undefined).map((c) => c.name),
    });
  }
  return reports;
}

async function isPrimary(db: pg.Client, table: string, key: readonly string[]): Promise<boolean> {
  const { rows } = await db.query<{ cols: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = to_regclass($1) AND i.indisprimary GROUP BY i.indexrelid`,
    [table],
  );
  return rows[0] !== undefined && rows[0].cols.join(',') === key.join(',');
}
