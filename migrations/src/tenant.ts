import { Client } from 'pg';
import { migrate } from './migrate';

/** The URL of `database` on the same server as `serverUrl`. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Each tenant's monolith has a database of its own, named after the tenant. */
export function tenantDatabase(tenant: string): string {
  return `monolith_${tenant}`;
}

/** Creates `name` on the server unless it exists; true when it was created. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<boolean> {
  const client = new Client({ connectionString: serverUrl });
  client.on('error', () => {}); // a server that goes away mid-way fails the next query instead of the process
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}

export interface PreparedTenant {
  readonly database: string;
  readonly url: string;
  readonly created: boolean;
  /** Migrations applied now, legacy schema first, then the toolkit's objects. */
  readonly applied: readonly string[];
}

/** Creates a tenant's monolith database if needed and brings both of its migration sets up to date. */
export async function prepareTenantDatabase(serverUrl: string, tenant: string): Promise<PreparedTenant> {
  const database = tenantDatabase(tenant);
  const created = await ensureDatabase(serverUrl, database);
  const url = databaseUrl(serverUrl, database);
  const legacy = await migrate('monolith', url);
  const toolkit = await migrate('monolith-cdc', url);
  return { database, url, created, applied: [...legacy.applied, ...toolkit.applied] };
}
