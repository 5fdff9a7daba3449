import knexFactory, { type Knex } from 'knex';

export function createDb(databaseUrl: string, poolMax = 10): Knex {
  return knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: poolMax } });
}
