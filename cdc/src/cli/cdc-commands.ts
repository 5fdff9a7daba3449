import { Command, Option } from 'commander';
import { redactUrl, sleep, UsageError } from '@strangler/common';
import { migrate } from '@strangler/migrations';
import { ConnectClient } from '../connect-client';
import { commandBrokers, COMMAND_KAFKA_OPTIONS, explainingKafka, kafkaClients } from '../kafka';
import { formatProjectionLag, projectionLag, type ProjectionLagRow } from '../projector/lag';
import { connectorName, MONOLITH_TABLES, notificationTopic, slotName, type TenantSource } from '../connector-config';
import { registerTenantConnector, removeTenantConnector, sourceUrlOf, waitUntilStreaming } from '../register';
import { ensureNotificationTopics, signalSnapshot, watchSnapshots } from '../snapshot';
import { consumerGroupLag, startCdcExporter } from '../exporter';
import { cdcStatus, formatStatus, unhealthy } from '../status';
import fs from 'node:fs';
import path from 'node:path';

const DEFAULT_SERVICE_DB = 'postgresql://postgres@127.0.0.1:54329/extracted_messaging';

/** What `cdc status --project FILE` takes from a project file (given by the CLI that knows project files). */
export type CdcProjectView = (file: string) => {
  serviceDatabases: readonly string[];
  connectUrl?: string;
  connectLog?: string;
  /** Each tenant's database URL. */
  tenants: Readonly<Record<string, string>>;
  /** The tables the file captures. */
  tables: readonly string[];
};

/** `strangler cdc status | register`: the connectors, their slots, and every projection's lag. */
export function registerCdcCommands(program: Command, fromProject?: CdcProjectView): void {
  addCdcSubcommands(program.command('cdc').description("change data capture: each tenant's Debezium connector and slot, and every projection's lag"), fromProject);
}

/** Connect's log of the stack this command runs beside (its state folder), when there is one. */
function stackConnectLog(): string | undefined {
  const dir = process.env.STRANGLER_STATE_DIR ?? path.resolve(__dirname, '..', '..', '..', '.strangler', 'stack');
  const file = path.join(dir, 'logs', 'connect.log');
  return fs.existsSync(file) ? file : undefined;
}

/** The subcommands themselves, on `parent` (`strangler cdc`, or the root of `npm run cdc`). */
export function addCdcSubcommands(parent: Command, fromProject?: CdcProjectView): void {
  parent.option('--connect-url <url>', 'Kafka Connect REST (env STRANGLER_CONNECT_URL, default the stack: http://127.0.0.1:18083)');
  const connect = (cmd: Command) =>
    new ConnectClient(cmd.optsWithGlobals<{ connectUrl?: string }>().connectUrl ?? process.env.STRANGLER_CONNECT_URL ?? 'http://127.0.0.1:18083');

  parent
    .command('exporter')
    .description("serve the capture's health on /metrics for Prometheus: each connector's and task's state (stopped ones too), task restarts from Connect's log, each slot's retained WAL, each heartbeat's age")
    .option('--port <port>', 'port to listen on', '19406')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--project <file>', "a project file: its Connect and the log of the Connect `strangler up --project` runs")
    .option('--connect-log <file>', "Kafka Connect's log, read for tasks that keep restarting (default: the stack's, when it runs here)")
    .option('--kafka <host:port>', "bootstrap broker, for every consumer group's lag (env STRANGLER_KAFKA, default the stack: 127.0.0.1:19092)")
    // Marks the process as a stack's child, for its orphan reaping.
    .addOption(new Option('--strangler-state <dir>').hideHelp())
    .action(async (opts: { port: string; host: string; project?: string; connectLog?: string; kafka?: string }, cmd: Command) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0-65535), not ${JSON.stringify(opts.port)}`);
      if (opts.project !== undefined && !fromProject) throw new UsageError('this command was built without project files: pass --connect-url');
      const view = opts.project !== undefined ? fromProject!(opts.project) : undefined;
      const explicitConnect = cmd.optsWithGlobals<{ connectUrl?: string }>().connectUrl ?? process.env.STRANGLER_CONNECT_URL;
      const client = explicitConnect === undefined && view?.connectUrl ? new ConnectClient(view.connectUrl) : connect(cmd);
      if (opts.connectLog !== undefined && !fs.existsSync(opts.connectLog)) throw new UsageError(`--connect-log ${opts.connectLog}: no such file (Connect's log: logs/connect.log in the stack's state folder)`);
      const connectLog = opts.connectLog ?? view?.connectLog ?? stackConnectLog();
      const admin = kafkaClients(commandBrokers(opts.kafka), 'strangler-cdc-exporter', COMMAND_KAFKA_OPTIONS).admin();
      let connected: Promise<void> | null = null;
      const groups = async () => {
        connected ??= admin.connect().catch((err: unknown) => {
          connected = null;
          throw err;
        });
        await connected;
        return consumerGroupLag(admin);
      };
      const exporter = await startCdcExporter(() => cdcStatus(client, connectLog ? { connectLog } : {}), { port, host: opts.host, groups });
      console.log(`cdc exporter: ${exporter.url}/metrics (Connect ${client.baseUrl}${connectLog ? `, log ${connectLog}` : ', no log: restarts are not counted'})`);
      await new Promise<void>((resolve) => {
        const stop = () => void exporter.close().then(() => admin.disconnect()).then(resolve, resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  parent
    .command('status')
    .description("each connector's and task's state with its replication slot and retained WAL; each projection's lag per partition (exit 1 when a connector or task is not running)")
    .option('--project <file>', "a project file: its services' databases, its Connect and the log of the Connect `strangler up --project` runs")
    .option('--service-db <url...>', `service databases whose projections to show (default: the project file's, else ${DEFAULT_SERVICE_DB}, when it answers)`)
    .option('--connect-log <file>', "Kafka Connect's log, read for tasks that keep restarting while they read RUNNING (default: the stack's, when it runs here)")
    .option('--kafka <host:port>', 'bootstrap broker (env STRANGLER_KAFKA, default the stack: 127.0.0.1:19092)')
    .option('--json', 'print JSON')
    .action(async (opts: { project?: string; serviceDb?: string[]; connectLog?: string; kafka?: string; json?: boolean }, cmd: Command) => {
      if (opts.project !== undefined && !fromProject) throw new UsageError('this command was built without project files: pass --service-db and --connect-url');
      const view = opts.project !== undefined ? fromProject!(opts.project) : undefined;
      const explicitConnect = cmd.optsWithGlobals<{ connectUrl?: string }>().connectUrl ?? process.env.STRANGLER_CONNECT_URL;
      const client = explicitConnect === undefined && view?.connectUrl ? new ConnectClient(view.connectUrl) : connect(cmd);
      const connectLog = opts.connectLog ?? view?.connectLog ?? stackConnectLog();
      if (opts.connectLog !== undefined && !fs.existsSync(opts.connectLog)) throw new UsageError(`--connect-log ${opts.connectLog}: no such file (Connect's log: logs/connect.log in the stack's state folder)`);
      const reports = await cdcStatus(client, connectLog ? { connectLog } : {});
      const explicit = opts.serviceDb ?? [];
      const declared = opts.serviceDb === undefined ? (view?.serviceDatabases ?? []) : [];
      const brokers = commandBrokers(opts.kafka);
      const kafka = kafkaClients(brokers, 'strangler-cdc-status', COMMAND_KAFKA_OPTIONS);
      const lag: ProjectionLagRow[] = [];
      const notes: string[] = [];
      const dbs = explicit.length > 0 ? explicit : declared.length > 0 ? declared : [DEFAULT_SERVICE_DB];
      for (const db of dbs) {
        try {
          lag.push(...(await explainingKafka(brokers, () => projectionLag(db, kafka))));
        } catch (err) {
          if (explicit.length > 0) throw err; // asked for it: say why it failed
          // A service the project file declares whose database is not there (yet): said, not fatal.
          if (declared.length > 0) notes.push(`service database ${redactUrl(db)}: ${(err as Error).message}`);
        }
      }
      console.log(opts.json ? JSON.stringify({ connectors: reports, projections: lag, notes }, null, 2) : `${formatStatus(reports)}\n\nprojections\n${formatProjectionLag(lag)}${notes.length ? `\n${notes.join('\n')}` : ''}`);
      if (unhealthy(reports)) process.exitCode = 1;
    });

  parent
    .command('register')
    .description("create (or update) a tenant's Debezium connector for its monolith database; tables added to an existing connector get their existing rows by an incremental snapshot")
    .requiredOption('--tenant <name>', 'the tenant (topics are <tenant>.<schema>.<table>)')
    .option('--project <file>', "a project file: the tenant's database and the tables it captures come from it")
    .option('--database-url <url>', "the tenant's monolith database, postgres://user@host:port/db (default: the project file's)")
    .option('--table <schema.table...>', `the tables to capture (default: the project file's capture.tables, else the sample monolith's: ${MONOLITH_TABLES.join(' ')})`)
    .option('--wait', 'wait until the connector streams (task running, slot active)')
    .option('--prepare', "first add the toolkit's own tables to the database (schema strangler: the heartbeat and signal tables the connector uses; the monolith-cdc migrations)")
    .action(async (given: { tenant: string; project?: string; databaseUrl?: string; table?: string[]; wait?: boolean; prepare?: boolean }, cmd: Command) => {
      if (given.project !== undefined && !fromProject) throw new UsageError('this command was built without project files: pass --database-url and --table');
      const view = given.project !== undefined ? fromProject!(given.project) : undefined;
      if (view && given.databaseUrl === undefined && view.tenants[given.tenant] === undefined) throw new UsageError(`--tenant ${given.tenant}: ${given.project} declares no such tenant (tenants: ${Object.keys(view.tenants).join(', ')})`);
      const databaseUrl = given.databaseUrl ?? view?.tenants[given.tenant];
      if (databaseUrl === undefined) throw new UsageError("--database-url is needed (the tenant's monolith database), or --project FILE to take it from a project file");
      const opts = { ...given, databaseUrl, ...(given.table ?? view?.tables ? { table: [...(given.table ?? view!.tables)] } : {}) };
      const source = tenantSource(cmd, opts);
      const client = connect(cmd);
      if (opts.prepare) {
        const r = await migrate('monolith-cdc', opts.databaseUrl);
        console.log(`${redactUrl(opts.databaseUrl)}: ${r.applied.length > 0 ? `the toolkit's tables added (${r.applied.join(', ')})` : "the toolkit's tables are there"}`);
      }
      const result = await registerTenantConnector(client, source);
      console.log(`${result.name}: ${result.action}`);
      if (result.snapshot) {
        console.log(`${result.name}: ${result.snapshot.tables.join(', ')} added; their existing rows come by an incremental snapshot (signal ${result.snapshot.id}, progress on ${notificationTopic(opts.tenant)})`);
      }
      if (opts.wait) {
        await waitUntilStreaming(client, opts.tenant, opts.databaseUrl, 60_000, { onSnapshot: (table) => console.log(`${result.name}: initial snapshot reading ${table}`) });
        console.log(`${result.name}: streaming`);
      }
    });

  parent
    .command('remove')
    .description("offboard a tenant's capture: stop and delete its connector with its offsets, then drop its replication slot and publication, so its database stops keeping WAL for it (its topics stay)")
    .requiredOption('--tenant <name>', 'the tenant')
    .requiredOption('--database-url <url>', "the tenant's monolith database (its slot and publication are dropped there)")
    .option('--yes', 'confirm: a connector registered again later starts with a fresh snapshot')
    .action(async (opts: { tenant: string; databaseUrl: string; yes?: boolean }, cmd: Command) => {
      tenantSource(cmd, opts);
      if (!opts.yes) {
        cmd.error(`this stops capturing ${opts.tenant} and drops its replication slot (${slotName(opts.tenant)}): changes made meanwhile are never streamed. Pass --yes to do it`, { exitCode: 2 });
      }
      await removeTenantConnector(connect(cmd), opts.tenant, opts.databaseUrl);
      console.log(`${connectorName(opts.tenant)}: removed (connector, offsets, slot ${slotName(opts.tenant)} and publication); topics ${opts.tenant}.* kept`);
    });

  parent
    .command('snapshot')
    .description("ask a tenant's connector to send every current row of some tables again (an incremental snapshot, beside the live changes): for a table added by hand, or a topic whose retention lost its history")
    .requiredOption('--tenant <name>', 'the tenant')
    .requiredOption('--database-url <url>', "the tenant's monolith database (the signal goes into its strangler.debezium_signal)")
    .requiredOption('--table <schema.table...>', 'the tables, as the connector captures them')
    .option('--kafka <host:port>', 'bootstrap broker, for --wait (env STRANGLER_KAFKA, default the stack: 127.0.0.1:19092)')
    .option('--wait', 'wait until the connector reports the snapshot COMPLETED')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '600')
    .action(async (opts: { tenant: string; databaseUrl: string; table: string[]; kafka?: string; wait?: boolean; timeout: string }, cmd: Command) => {
      const source = tenantSource(cmd, opts);
      const config = await connect(cmd).getConfig(connectorName(opts.tenant));
      if (!config) cmd.error(`tenant ${opts.tenant} has no connector: register it first (strangler cdc register --tenant ${opts.tenant} --database-url ...)`, { exitCode: 2 });
      const captured = (config['table.include.list'] ?? '').split(',');
      const unknown = opts.table.filter((t) => !captured.includes(t));
      if (unknown.length > 0) {
        cmd.error(`the connector of ${opts.tenant} does not capture ${unknown.join(', ')} (it captures ${captured.filter((t) => !t.startsWith('strangler.')).join(', ')}): add them with strangler cdc register --table ...`, { exitCode: 2 });
      }
      const seconds = Number(opts.timeout);
      if (!Number.isFinite(seconds) || seconds <= 0) cmd.error(`--timeout must be a number of seconds above 0, not ${JSON.stringify(opts.timeout)}`, { exitCode: 2 });
      const id = `snapshot-${Date.now().toString(36)}-${opts.tenant}`.slice(0, 42);
      const brokers = commandBrokers(opts.kafka);
      const kafka = kafkaClients(brokers, 'strangler-cdc-snapshot', COMMAND_KAFKA_OPTIONS);
      if (opts.wait) await explainingKafka(brokers, () => ensureNotificationTopics(kafka, [opts.tenant]));
      await signalSnapshot(sourceUrlOf(source), opts.tenant, opts.table, id);
      console.log(`${connectorName(opts.tenant)}: snapshot of ${opts.table.join(', ')} signalled (${id})`);
      if (!opts.wait) return;
      const watch = await explainingKafka(brokers, () => watchSnapshots(kafka, `strangler-cdc-${id}`, new Map([[id, opts.tenant]])));
      try {
        const deadline = Date.now() + seconds * 1000;
        while (!watch.completed()) {
          if (Date.now() > deadline) cmd.error(`the snapshot ${id} did not complete within ${seconds} s: see the Connect log, and \`strangler cdc status\``, { exitCode: 1 });
          await sleep(500);
        }
        console.log(`${connectorName(opts.tenant)}: snapshot ${id} completed`);
      } finally {
        await watch.close();
      }
    });
}

/** A tenant's source from --tenant, --database-url and --table, or a usage error that says what is wrong. */
function tenantSource(cmd: Command, opts: { tenant: string; databaseUrl: string; table?: string[] }): TenantSource {
  let url: URL;
  try {
    url = new URL(opts.databaseUrl);
  } catch {
    cmd.error(`--database-url is not a URL: ${opts.databaseUrl} (expected postgres://user@host:port/db)`, { exitCode: 2 });
  }
  const bad = (opts.table ?? []).filter((t) => !/^[^.\s]+\.[^.\s]+$/.test(t));
  if (bad.length > 0) cmd.error(`--table takes <schema>.<table>, as in public.rooms: ${bad.join(', ')}`, { exitCode: 2 });
  return {
    tenant: opts.tenant,
    host: url.hostname,
    port: Number(url.port || 5432),
    database: decodeURIComponent(url.pathname.slice(1)),
    user: decodeURIComponent(url.username || 'postgres'),
    password: decodeURIComponent(url.password),
    ...(opts.table ? { tables: opts.table } : {}),
  };
}
