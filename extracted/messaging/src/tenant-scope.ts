import type { Knex } from 'knex';
import { TENANT_NAME } from '@strangler/common';
import { MIRRORED } from './projection';

export type ServiceTable = (typeof MIRRORED)[number]['target'];

/** A query builder on one service table, already restricted to one tenant's rows. */
export type TenantScope = (table: ServiceTable) => Knex.QueryBuilder;

/**
 * The only way the service's handlers reach their tables: every builder it
 * returns carries `tenant = ?`, so no query can run without a tenant, and a
 * tenant that is not a valid name never reaches SQL.
 */
export function tenantScope(db: Knex, tenant: string): TenantScope {
  if (!TENANT_NAME.test(tenant)) throw new TypeError(`not a tenant name: ${JSON.stringify(tenant)}`);
  return (table) => db(table).where(`${table}.tenant`, tenant);
}
