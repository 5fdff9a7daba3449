import pg from 'pg';
import { redactUrl } from '@strangler/common';
import { OwnershipError } from './errors';

/** An identifier quoted for SQL. */
export const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** `schema.table` (public when bare), quoted. */
export const qualified = (t: string): string => (t.includes('.') ? t : `public.${t}`);
export const qt = (t: string): string =>
  qualified(t)
    .split('.')
    .map(q)
    .join('.');

/** One short session on a database: connected, used, closed (a failure to connect named with the database, its password left out). */
export async function withClient<T>(url: string, app: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, application_name: app, connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  try {
    await c.connect();
  } catch (err) {
    throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', `cannot connect to ${redactUrl(url)}: ${(err as Error).message}`, { cause: err, retriable: true });
  }
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Runs fn in one transaction on c. */
export async function inTransaction<T>(c: pg.Client, fn: () => Promise<T>): Promise<T> {
  await c.query('BEGIN');
  try {
    const out = await fn();
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
