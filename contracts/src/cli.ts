import path from 'node:path';
import { type Command, Option } from 'commander';
import pg from 'pg';
import { UsageError } from '@strangler/common';
import { formatChanges, type Consumer } from './compare';
import { checkContracts, type MigrationSource } from './check';
import { readConsumers, readContracts, readEventContracts } from './files';
import { snapshotContracts } from './snapshot';
import { buildCatalog, formatCatalog } from './catalog';
import { startCatalogServer } from './catalog-server';
import { Kafka, logLevel, type Admin } from 'kafkajs';

const CANDIDATE_SERVERS = ['postgresql://postgres@127.0.0.1:54329/postgres', 'postgresql://postgres@127.0.0.1:5432/postgres'];

/** The server scratch databases go on: --server-url, STRANGLER_CONTRACTS_PG_URL, else the stack's, else the machine's, whichever answers first. */
async function serverUrl(given: string | undefined): Promise<string> {
  const explicit = given ?? process.env.STRANGLER_CONTRACTS_PG_URL;
  if (explicit) return explicit;
  for (const url of CANDIDATE_SERVERS) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
    const ok = await c.connect().then(() => true, () => false);
    await c.end().catch(() => {});
    if (ok) return url;
  }
  throw new UsageError(`no PostgreSQL server for the scratch database answered at ${CANDIDATE_SERVERS.join(' or ')}: pass --server-url (a role that may create databases) or set STRANGLER_CONTRACTS_PG_URL`);
}

function migrationSource(o: { migrationsDir?: string; migrateCommand?: string }): MigrationSource {
  if (o.migrationsDir && o.migrateCommand) throw new UsageError('give --migrations-dir or --migrate-command, not both');
  if (o.migrationsDir) return { directory: path.resolve(o.migrationsDir) };
  if (o.migrateCommand) return { command: o.migrateCommand };
  return { set: 'monolith' };
}

const MIGRATION_HELP = [
  ['--migrations-dir <dir>', "the monolith's knex migrations folder (default: the sample monolith's migration set)"],
  ['--migrate-command <cmd>', 'a shell command that migrates the database in $DATABASE_URL (any migration tool)'],
] as const;

/**
 * `strangler contracts snapshot | check | consumers`: stream contracts kept in
 * the repository (contracts/), the consumers that declare what they read,
 * and the CI check that fails on a migration that would break one.
 */
export function registerContractsCommands(program: Command, repoRoot: string, fromProject?: (file: string) => Consumer[]): void {
  /** A project file's mirrors as consumers (each reads every column of its tables); its contracts folder beside it. */
  const projectOf = (o: { project?: string; dir?: string }): { consumers: Consumer[]; dir?: string } => {
    if (o.project === undefined) return { consumers: [] };
    if (!fromProject) throw new UsageError('this command was built without project files: declare consumers in contracts/consumers');
    return { consumers: fromProject(o.project), ...(o.dir === undefined ? { dir: path.join(path.dirname(path.resolve(o.project)), 'contracts') } : {}) };
  };
  const contracts = program.command('contracts').description("stream contracts: each captured table's change events as JSON Schema, versioned in contracts/; the consumers of each; a check for CI");
  const dirOf = (o: { dir?: string }) => path.resolve(o.dir ?? path.join(repoRoot, 'contracts'));

  const snapshot = contracts
    .command('snapshot')
    .description("write each stream's contract from the source catalog (a database, or the migrations applied to a scratch one); a changed shape gets the next version")
    .option('--dir <dir>', 'the contracts folder (default: contracts/ of the repository)')
    .option('--database-url <url>', 'read the shapes from this database (a tenant of the monolith) instead of migrating a scratch one')
    .option('--server-url <url>', 'PostgreSQL server for the scratch database (env STRANGLER_CONTRACTS_PG_URL; default the stack\'s, else 127.0.0.1:5432)')
    .option('--table <schema.table...>', 'the streams to record (default: those recorded, else every table)')
    .option('--owner <schema.table=domain...>', 'the domain that owns a stream')
    .option('--producer <name>', 'who produces the streams', 'monolith');
  for (const [flag, help] of MIGRATION_HELP) snapshot.option(flag, help);
  snapshot.action(async (o: { dir?: string; databaseUrl?: string; serverUrl?: string; table?: string[]; owner?: string[]; producer: string; migrationsDir?: string; migrateCommand?: string }) => {
    const owners: Record<string, string> = {};
    for (const pair of o.owner ?? []) {
      const [stream, domain] = pair.split('=');
      if (!stream || !domain) throw new UsageError(`--owner ${pair}: give <schema.table>=<domain>, e.g. public.rooms=messaging`);
      owners[stream] = domain;
    }
    const from = o.databaseUrl ? { databaseUrl: o.databaseUrl } : { serverUrl: await serverUrl(o.serverUrl), migrations: migrationSource(o) };
    const r = await snapshotContracts({ dir: dirOf(o), from, ...(o.table ? { streams: o.table } : {}), producer: o.producer, owners });
    for (const w of r.written) console.log(`${w.stream}: version ${w.version} written to ${path.relative(process.cwd(), w.file)}${w.changes.length ? `\n  ${w.changes.join('\n  ')}` : ''}`);
    if (r.unchanged.length) console.log(`unchanged: ${r.unchanged.join(', ')}`);
  });

  const check = contracts
    .command('check')
    .description("apply the monolith's migrations (pending ones included) to a scratch database and report each change to a recorded stream as compatible or breaking for a named consumer; exit 1 on a breaking one")
    .option('--dir <dir>', 'the contracts folder (default: contracts/ of the repository)')
    .option('--server-url <url>', 'PostgreSQL server for the scratch database (env STRANGLER_CONTRACTS_PG_URL; default the stack\'s, else 127.0.0.1:5432)')
    .option('--project <file>', "a project file: its mirrors are consumers too (every column of their tables); contracts/ beside it")
    .option('--json', 'print JSON');
  for (const [flag, help] of MIGRATION_HELP) check.option(flag, help);
  check.action(async (o: { dir?: string; project?: string; serverUrl?: string; json?: boolean; migrationsDir?: string; migrateCommand?: string }) => {
    const pj = projectOf(o);
    const r = await checkContracts({ dir: pj.dir ?? dirOf(o), serverUrl: await serverUrl(o.serverUrl), migrations: migrationSource(o), consumers: pj.consumers });
    if (o.json) console.log(JSON.stringify({ breaking: r.breaking.length, changes: r.changes }, null, 2));
    else {
      console.log(formatChanges(r.changes));
      console.log(r.breaking.length > 0 ? `\n${r.breaking.length} breaking change(s) for declared consumers: evolve in steps (expand, migrate, contract), as each says` : `\nno breaking change for the ${r.consumers.length} declared consumer(s)${r.changes.length ? '; record the compatible ones with `strangler contracts snapshot`' : ''}`);
    }
    if (r.breaking.length > 0) process.exitCode = 1;
  });

  const catalog = program
    .command('catalog')
    .description('every stream (each captured table\'s changes, each domain event): its owner domain, contract version, producer, topics and retention, and each consumer with its lag now against its freshness objective')
    .option('--dir <dir>', 'the contracts folder (default: contracts/ of the repository)')
    .option('--kafka <host:port>', 'bootstrap broker (env STRANGLER_KAFKA, default the stack: 127.0.0.1:19092)')
    .option('--no-kafka', 'the contracts alone: no topics, retention or lag')
    .option('--json', 'print JSON')
    .action(async (o: { dir?: string; kafka?: string | false; json?: boolean }) => {
      let admin: Admin | null = null;
      if (o.kafka !== false) {
        const brokers = [typeof o.kafka === 'string' ? o.kafka : (process.env.STRANGLER_KAFKA ?? '127.0.0.1:19092')];
        admin = new Kafka({ clientId: 'strangler-catalog', brokers, logLevel: logLevel.NOTHING, retry: { retries: 1 } }).admin();
        try {
          await admin.connect();
        } catch (err) {
          throw new UsageError(`no Kafka broker answered at ${brokers.join(',')} (${(err as Error).message}): start the stack, name one with --kafka, or pass --no-kafka for the contracts alone`);
        }
      }
      try {
        const entries = await buildCatalog(dirOf(o), admin);
        console.log(o.json ? JSON.stringify(entries, null, 2) : formatCatalog(entries));
      } finally {
        await admin?.disconnect();
      }
    });

  catalog
    .command('serve')
    .description("serve the catalog as JSON on GET /catalog, for the proxy's dashboard (its dashboard.catalogUrl)")
    .option('--port <port>', 'port to listen on', '19407')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--dir <dir>', 'the contracts folder (default: contracts/ of the repository)')
    .option('--kafka <host:port>', 'bootstrap broker (env STRANGLER_KAFKA, default the stack: 127.0.0.1:19092)')
    .addOption(new Option('--strangler-state <dir>').hideHelp())
    .action(async (o: { port: string; host: string; dir?: string; kafka?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0-65535), not ${JSON.stringify(o.port)}`);
      const server = await startCatalogServer({ dir: dirOf(o), brokers: [o.kafka ?? process.env.STRANGLER_KAFKA ?? '127.0.0.1:19092'], port, host: o.host });
      console.log(`catalog: ${server.url}/catalog (contracts ${dirOf(o)})`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve, resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  contracts
    .command('consumers')
    .description('the declared consumers (contracts/consumers/*.json) and the streams and columns each reads')
    .option('--dir <dir>', 'the contracts folder (default: contracts/ of the repository)')
    .option('--project <file>', "a project file: its mirrors are consumers too; contracts/ beside it")
    .option('--json', 'print JSON')
    .action((o: { dir?: string; project?: string; json?: boolean }) => {
      const pj = projectOf(o);
      if (pj.dir) o.dir = pj.dir;
      const consumers: Consumer[] = [...readConsumers(dirOf(o)), ...pj.consumers];
      const recorded = readContracts(dirOf(o));
      const events = new Set(readEventContracts(dirOf(o)).map((e) => `${e.event}@${e.version}`));
      if (o.json) return void console.log(JSON.stringify(consumers, null, 2));
      if (consumers.length === 0) return void console.log(`no consumer declared in ${dirOf(o)}/consumers`);
      for (const c of consumers) {
        console.log(`${c.name} (${c.kind}, ${c.owner}${c.freshnessMs ? `, fresh within ${c.freshnessMs} ms` : ''})`);
        for (const [stream, cols] of Object.entries(c.reads)) {
          const v = recorded.get(stream)?.version;
          console.log(`  ${stream}${v === undefined ? ' (no contract recorded)' : ` v${v}`}: ${cols === '*' ? 'every column' : cols.join(', ')}`);
        }
        for (const e of c.events ?? []) console.log(`  event ${e}${events.has(e) ? '' : ' (no contract in contracts/events)'}`);
      }
    });
}
