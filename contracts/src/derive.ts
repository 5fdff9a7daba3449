import pg from 'pg';
import { readTableSpec } from '@strangler/cdc';
import type { Shape } from './contract';

/**
 * The shapes of these tables in a database: columns with their types,
 * nullability and whether they have a default, and the key capture keys the
 * events by (cdc's readTableSpec: the primary key, else a unique index on
 * NOT NULL columns). A table that is not there is left out of the result.
 */
export async function readShapes(databaseUrl: string, streams: readonly string[]): Promise<Map<string, Shape>> {
  const out = new Map<string, Shape>();
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    for (const stream of streams) {
      const [schema, table] = stream.includes('.') ? (stream.split('.') as [string, string]) : ['public', stream];
      const defaults = await db.query<{ name: string; has_default: boolean }>(
        `SELECT a.attname AS name, a.atthasdef AS has_default FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
        [schema, table],
      );
      if (defaults.rows.length === 0) continue;
      const hasDefault = new Map(defaults.rows.map((r) => [r.name, r.has_default]));
      const spec = await readTableSpec(databaseUrl, `${schema}.${table}`, table);
      out.set(`${schema}.${table}`, {
        stream: `${schema}.${table}`,
        key: spec.key,
        columns: spec.columns.map((c) => ({ name: c.name, type: c.type, nullable: !c.notNull, hasDefault: hasDefault.get(c.name) ?? false })),
      });
    }
  } finally {
    await db.end();
  }
  return out;
}

/** Every ordinary table of the database's user schemas (what a first snapshot records when no list is given). */
export async function listTables(databaseUrl: string): Promise<string[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'strangler') AND n.nspname NOT LIKE 'pg_%'
          AND c.relname NOT LIKE 'knex_migrations%' AND NOT c.relispartition ORDER BY 1`,
    );
    return rows.map((r) => r.name);
  } finally {
    await db.end();
  }
}
