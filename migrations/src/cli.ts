import { parseArgs } from 'node:util';
import { isStranglerError, TENANT_NAME } from '@strangler/common';
import { migrate } from './migrate';
import { MIGRATION_SETS, type MigrationSetName } from './sets';
import { ensureDatabase, prepareTenantDatabase } from './tenant';

const USAGE = `usage:
  npm run migrate -- latest <set> --database-url URL [--create]     sets: ${Object.keys(MIGRATION_SETS).join(', ')}
      --create: create the database first when it does not exist
  npm run migrate -- tenants --tenants acme,globex [--server-url URL]
      creates monolith_<tenant> on the server (STRANGLER_PG_URL by default) and migrates it (monolith + monolith-cdc)`;

function fail(message: string, code = 2): never {
  console.error(`migrate: ${message}`);
  process.exit(code);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { 'database-url': { type: 'string' }, 'server-url': { type: 'string' }, tenants: { type: 'string' }, create: { type: 'boolean', default: false } },
      strict: true,
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (command === 'latest') {
    const set = positionals[0];
    if (!set || !(set in MIGRATION_SETS)) fail(`name a migration set (${Object.keys(MIGRATION_SETS).join(', ')}), got ${JSON.stringify(set ?? null)}\n${USAGE}`);
    if (!values['database-url']) fail(`--database-url is required\n${USAGE}`);
    if (values.create) {
      let target: URL;
      try {
        target = new URL(values['database-url']);
      } catch {
        fail(`--database-url is not a URL: ${JSON.stringify(values['database-url'])} (postgresql://user@host:port/database)`);
      }
      const name = decodeURIComponent(target.pathname.slice(1));
      if (!name) fail(`--database-url names no database: ${values['database-url']}`);
      const server = new URL(target);
      server.pathname = '/postgres';
      if (await ensureDatabase(server.toString(), name)) console.log(`${name}: created`);
    }
    const result = await migrate(set as MigrationSetName, values['database-url']);
    console.log(`${set}: ${result.applied.length ? `applied ${result.applied.join(', ')}` : 'up to date'}`);
    return;
  }
  if (command === 'tenants') {
    const server = values['server-url'] ?? process.env.STRANGLER_PG_URL;
    if (!server) fail(`--server-url or STRANGLER_PG_URL is required\n${USAGE}`);
    const tenants = (values.tenants ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    const bad = tenants.filter((t) => !TENANT_NAME.test(t));
    if (!tenants.length || bad.length) fail(`--tenants must list names like acme,globex (a-z, 0-9, _), got ${JSON.stringify(values.tenants ?? '')}`);
    for (const tenant of tenants) {
      const { database, applied } = await prepareTenantDatabase(server, tenant);
      console.log(`${database}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
    }
    return;
  }
  fail(command ? `unknown command "${command}"\n${USAGE}` : USAGE);
}

main().catch((err: unknown) => fail(isStranglerError(err) ? `${err.message} [${err.code}]` : ((err as Error).stack ?? String(err)), 1));
