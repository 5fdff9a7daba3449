export { migrate, rollbackAll, migrationConfig } from './migrate';
export type { MigrateResult } from './migrate';
export { MIGRATION_SETS } from './sets';
export type { MigrationSet, MigrationSetName } from './sets';
