import knexFactory from 'knex';
import { MIRRORED } from './projection';
import { tenantScope } from './tenant-scope';

describe('tenant scope', () => {
  const db = knexFactory({ client: 'pg' });

  it('restricts every table to the tenant, whatever else the query adds', () => {
    const scope = tenantScope(db, 'acme');
    for (const { target } of MIRRORED) {
      const q = scope(target).where({ id: 7 }).orWhere({ id: 8 }).toSQL().toNative();
      expect(q.sql).toMatch(new RegExp(`^select \\* from "${target}" where "${target}"."tenant" = \\$1`));
      expect(q.bindings[0]).toBe('acme');
    }
  });

  it('refuses what is not a tenant name before any SQL is built', () => {
    for (const bad of ['', 'Acme', "acme' OR '1'='1", 'a'.repeat(64)]) expect(() => tenantScope(db, bad)).toThrow(/not a tenant name/);
  });
});
