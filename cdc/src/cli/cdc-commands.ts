import { Command } from 'commander';
import { ConnectClient } from '../connect-client';
import { commandBrokers, COMMAND_KAFKA_OPTIONS, explainingKafka, kafkaClients } from '../kafka';
import { formatProjectionLag, projectionLag, type ProjectionLagRow } from '../projector/lag';
import { registerTenantConnector, waitUntilStreaming } from '../register';
import { cdcStatus, formatStatus } from '../status';

const DEFAULT_SERVICE_DB = 'postgresql://postgres@127.0.0.1:54329/extracted_messaging';

/** `strangler cdc status | register`: the connectors, their slots, and every projection's lag. */
export function registerCdcCommands(program: Command): void {
  addCdcSubcommands(program.command('cdc').description("change data capture: each tenant's Debezium connector and slot, and every projection's lag"));
}

/** The subcommands themselves, on `parent` (`strangler cdc`, or the root of `npm run cdc`). */
export function addCdcSubcommands(parent: Command): void {
  parent.option('--connect-url <url>', 'Kafka Connect REST (env STRANGLER_CONNECT_URL, default the stack: http://127.0.0.1:18083)');
  const connect = (cmd: Command) =>
    new ConnectClient(cmd.optsWithGlobals<{ connectUrl?: string }>().connectUrl ?? process.env.STRANGLER_CONNECT_URL ?? 'http://127.0.0.1:18083');

  parent
    .command('status')
    .description("each connector's and task's state with its replication slot and retained WAL; each projection's lag per partition (exit 1 when a connector or task is not running)")
    .option('--service-db <url...>', `service databases whose projections to show (default: ${DEFAULT_SERVICE_DB}, when it answers)`)
    .option('--kafka <host:port>', 'bootstrap broker (env STRANGLER_KAFKA, default the stack: 127.0.0.1:19092)')
    .option('--json', 'print JSON')
    .action(async (opts: { serviceDb?: string[]; kafka?: string; json?: boolean }, cmd: Command) => {
      const reports = await cdcStatus(connect(cmd));
      const explicit = opts.serviceDb ?? [];
      const brokers = commandBrokers(opts.kafka);
      const kafka = kafkaClients(brokers, 'strangler-cdc-status', COMMAND_KAFKA_OPTIONS);
      const lag: ProjectionLagRow[] = [];
      for (const db of explicit.length > 0 ? explicit : [DEFAULT_SERVICE_DB]) {
        try {
          lag.push(...(await explainingKafka(brokers, () => projectionLag(db, kafka))));
        } catch (err) {
          if (explicit.length > 0) throw err; // asked for it: say why it failed
        }
      }
      console.log(opts.json ? JSON.stringify({ connectors: reports, projections: lag }, null, 2) : `${formatStatus(reports)}\n\nprojections\n${formatProjectionLag(lag)}`);
      if (reports.some((r) => r.connectorState !== 'RUNNING' || r.tasks.some((t) => t.state !== 'RUNNING'))) process.exitCode = 1;
    });

  parent
    .command('register')
    .description("create (or update) a tenant's Debezium connector for its monolith database")
    .requiredOption('--tenant <name>', 'the tenant (topics are <tenant>.<schema>.<table>)')
    .requiredOption('--database-url <url>', "the tenant's monolith database, postgres://user@host:port/db")
    .option('--wait', 'wait until the connector streams (task running, slot active)')
    .action(async (opts: { tenant: string; databaseUrl: string; wait?: boolean }, cmd: Command) => {
      let url: URL;
      try {
        url = new URL(opts.databaseUrl);
      } catch {
        cmd.error(`--database-url is not a URL: ${opts.databaseUrl} (expected postgres://user@host:port/db)`, { exitCode: 2 });
      }
      const client = connect(cmd);
      const result = await registerTenantConnector(client, {
        tenant: opts.tenant,
        host: url.hostname,
        port: Number(url.port || 5432),
        database: decodeURIComponent(url.pathname.slice(1)),
        user: decodeURIComponent(url.username || 'postgres'),
        password: decodeURIComponent(url.password),
      });
      console.log(`${result.name}: ${result.action}`);
      if (opts.wait) {
        await waitUntilStreaming(client, opts.tenant, opts.databaseUrl);
        console.log(`${result.name}: streaming`);
      }
    });
}
