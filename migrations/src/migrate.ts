import knexFactory, { type Knex } from 'knex';
import { StranglerError } from '@strangler/common';
import { MIGRATION_SETS, type MigrationSet, type MigrationSetName } from './sets';

class ListedMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly set: MigrationSet) {}
  async getMigrations(): Promise<string[]> {
    return Object.keys(this.set.migrations).sort();
  }
  getMigrationName(name: string): string {
    return name;
  }
  async getMigration(name: string): Promise<Knex.Migration> {
    const migration = this.set.migrations[name];
    if (!migration) throw new Error(`unknown migration ${name} in set ${this.set.name}`);
    return migration;
  }
}

export function migrationConfig(setName: MigrationSetName): Knex.MigratorConfig {
  const set: MigrationSet = MIGRATION_SETS[setName];
  return {
    migrationSource: new ListedMigrationSource(set),
    tableName: set.tableName,
    schemaName: set.schemaName,
  };
}

export interface MigrateResult {
  readonly set: MigrationSetName;
  readonly applied: readonly string[];
}

/**
 * Brings `databaseUrl` to the newest migration of `setName`. Knex's lock
 * table makes concurrent runs on one database safe.
 */
export async function migrate(setName: MigrationSetName, databaseUrl: string): Promise<MigrateResult> {
  if (!(setName in MIGRATION_SETS)) {
    throw new StranglerError('STR_ERR_MIGRATION_UNKNOWN_SET', `unknown migration set "${setName}": use one of ${Object.keys(MIGRATION_SETS).join(', ')}`);
  }
  const knex = knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } });
  try {
    const set: MigrationSet = MIGRATION_SETS[setName];
    if (set.schemaName !== 'public') await knex.raw(`CREATE SCHEMA IF NOT EXISTS "${set.schemaName}"`);
    // Another process migrating the same database at once (replicas starting together): knex refuses while its
    // lock is held rather than waiting; wait for it (up to a minute), then find its work done.
    for (let attempt = 0; ; attempt++) {
      try {
        const [, applied] = (await knex.migrate.latest(migrationConfig(setName))) as [number, string[]];
        return { set: setName, applied };
      } catch (err) {
        if (!/already locked/i.test((err as Error).message) || attempt >= 300) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (err) {
    throw new StranglerError('STR_ERR_MIGRATION_FAILED', `migrating ${setName} failed: ${(err as Error).message}`, {
      cause: err,
      context: { set: setName },
    });
  } finally {
    await knex.destroy();
  }
}

/** Rolls `setName` back to nothing (tests and `npm run clean` use it; never the demo). */
export async function rollbackAll(setName: MigrationSetName, databaseUrl: string): Promise<void> {
  const knex = knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } });
  try {
    await knex.migrate.rollback(migrationConfig(setName), true);
  } finally {
    await knex.destroy();
  }
}
