import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import knexFactory from 'knex';
import pg from 'pg';
import { databaseUrl, ensureDatabase, migrate } from '@strangler/migrations';
import { redactUrl } from '@strangler/common';
import { compareShapes, type Change, type Consumer } from './compare';
import type { Shape } from './contract';
import { readShapes } from './derive';
import { ContractsError } from './errors';
import { readConsumers, readContracts, shapeOf } from './files';

/** How the monolith's schema is made: the sample's migration set, a knex migrations folder, or a command given DATABASE_URL. */
export type MigrationSource = { readonly set: 'monolith' } | { readonly directory: string } | { readonly command: string };

/**
 * A scratch database on `serverUrl` with every migration applied (the
 * pending ones included), handed to `use`, dropped after whatever happens.
 */
export async function withMigratedScratch<T>(serverUrl: string, source: MigrationSource, use: (url: string) => Promise<T>): Promise<T> {
  const name = `strangler_contracts_${crypto.randomBytes(5).toString('hex')}`;
  try {
    await ensureDatabase(serverUrl, name);
  } catch (err) {
    throw new ContractsError('STR_ERR_CONTRACTS_DATABASE', `cannot create a scratch database on ${redactUrl(serverUrl)} (${(err as Error).message}): pass --server-url of a PostgreSQL server whose role may create databases (env STRANGLER_CONTRACTS_PG_URL)`, { cause: err });
  }
  const url = databaseUrl(serverUrl, name);
  try {
    await applyMigrations(url, source);
    return await use(url);
  } finally {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect().then(
      () => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => admin.end()),
      () => undefined,
    );
  }
}

async function applyMigrations(url: string, source: MigrationSource): Promise<void> {
  try {
    if ('set' in source) {
      await migrate(source.set, url);
    } else if ('directory' in source) {
      const knex = knexFactory({ client: 'pg', connection: url, migrations: { directory: source.directory, loadExtensions: ['.js', '.cjs', '.ts'] } });
      try {
        await knex.migrate.latest();
      } finally {
        await knex.destroy();
      }
    } else {
      await new Promise<void>((resolve, reject) => {
        const child = spawn('/bin/sh', ['-c', source.command], { env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'inherit', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}: ${err.trim()}`))));
      });
    }
  } catch (err) {
    throw new ContractsError('STR_ERR_CONTRACTS_MIGRATIONS', `the migrations failed on a scratch database: ${(err as Error).message}. A migration that cannot run on an empty schema cannot be checked; fix it first`, { cause: err });
  }
}

export interface CheckResult {
  readonly changes: readonly Change[];
  readonly breaking: readonly Change[];
  readonly consumers: readonly Consumer[];
}

/**
 * `strangler contracts check`: the monolith's migrations, pending ones
 * included, applied to a scratch database; the shapes of the recorded
 * streams read from it and compared with the contracts in `dir`, each change
 * judged against the declared consumers.
 */
export async function checkContracts(o: { readonly dir: string; readonly serverUrl: string; readonly migrations: MigrationSource; readonly consumers?: readonly Consumer[] }): Promise<CheckResult> {
  const recorded = readContracts(o.dir);
  if (recorded.size === 0) throw new ContractsError('STR_ERR_CONTRACTS_NONE', `no contract in ${o.dir}/streams: record them first with \`strangler contracts snapshot\``);
  const consumers = [...readConsumers(o.dir), ...(o.consumers ?? [])];
  const current = await withMigratedScratch(o.serverUrl, o.migrations, (url) => readShapes(url, [...recorded.keys()]));
  const changes = compareShapes(new Map<string, Shape>([...recorded].map(([k, c]) => [k, shapeOf(c)])), current, consumers);
  return { changes, breaking: changes.filter((c) => c.breaking), consumers };
}
