export { migrate, rollbackAll, migrationConfig } from './migrate';
export type { MigrateResult } from './migrate';
export { MIGRATION_SETS } from './sets';
export type { MigrationSet, MigrationSetName } from './sets';
export { databaseUrl, ensureDatabase, prepareTenantDatabase, tenantDatabase } from './tenant';
export type { PreparedTenant } from './tenant';
