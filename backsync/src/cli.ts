import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConnectClient, kafkaClients, sameConfig } from '@strangler/cdc';
import { BackSyncApplier } from './applier';
import { backSyncConnectorConfig, backSyncConnectorName } from './connector';

function tenantUrl(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([a-z][a-z0-9_]*)=(postgres(?:ql)?:\/\/\S+)$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be <tenant>=<postgresql url>, e.g. acme=postgresql://strangler@10.0.0.5:5432/monolith_acme');
  return { ...previous, [m[1]!]: m[2]! };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `strangler backsync run`: registers the service-side connector (idempotent) and runs the applier until SIGTERM or SIGINT. */
export function registerBackSyncCommands(program: Command): Command {
  const cmd = program.command('backsync').description("carry an extracted service's writes to the tables it owns back into each tenant's monolith database");
  cmd
    .command('run')
    .description('register the connector on the service database, then apply its changes to the monoliths of the tenants it owns, until stopped')
    .requiredOption('--service <name>', 'the extracted service (names the connector, slot and topic)')
    .requiredOption('--service-db <url>', "the service's database (logical decoding on)")
    .requiredOption('--table <table>', 'an owned table in the service database (repeat for each)', collect)
    .requiredOption('--monolith <tenant=url>', "a tenant's monolith database (repeat for each)", tenantUrl)
    .requiredOption('--domain <name>', "the domain whose tables these are (the service's strangler.domain_owners rows of it say which tenants it owns)")
    .option('--kafka <brokers>', 'Kafka bootstrap servers (env STRANGLER_KAFKA)', process.env.STRANGLER_KAFKA ?? `127.0.0.1:${process.env.STRANGLER_KAFKA_PORT ?? 19092}`)
    .option('--connect <url>', 'Kafka Connect REST API (env STRANGLER_CONNECT_URL)', process.env.STRANGLER_CONNECT_URL ?? `http://127.0.0.1:${process.env.STRANGLER_CONNECT_PORT ?? 18083}`)
    .option('--group <id>', 'consumer group (default strangler-backsync-<service>)')
    .option('--session-timeout <ms>', 'how soon a replacement takes over from an applier that died (the broker bounds it)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1000) throw new InvalidArgumentError('must be a whole number of milliseconds, at least 1000');
      return n;
    }, 30_000)
    // The stack marks its children with its state folder on the command line (orphan reaping): accepted, unused.
    .addOption(new Option('--strangler-state <dir>').hideHelp())
    .action(async (o: { service: string; serviceDb: string; table: string[]; monolith: Record<string, string>; domain: string; kafka: string; connect: string; group?: string; sessionTimeout: number }) => {
      const u = new URL(o.serviceDb);
      const config = backSyncConnectorConfig({ service: o.service, host: u.hostname, port: Number(u.port || 5432), database: u.pathname.slice(1), user: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password), tables: o.table });
      const connect = new ConnectClient(o.connect);
      const name = backSyncConnectorName(o.service);
      const current = await connect.getConfig(name);
      if (!current || !sameConfig(current, config)) await connect.putConfig(name, config);
      const applier = new BackSyncApplier({
        service: o.service,
        kafka: kafkaClients(o.kafka.split(','), `strangler-backsync-${o.service}`, { sessionTimeoutMs: o.sessionTimeout }),
        monoliths: o.monolith,
        domain: o.domain,
        onOwnership: (t, owner, epoch) => console.log(`backsync ${o.service}: ${t}'s ${o.domain} is owned by the ${owner} from here on (epoch ${epoch})`),
        ...(o.group ? { groupId: o.group } : {}),
        onError: (err) => console.error(`backsync: ${(err as Error).message}`),
      });
      await applier.start();
      console.log(`backsync ${o.service}: applying ${applier.topic} to the tenants whose ${o.domain} it owns, of ${Object.keys(o.monolith).join(', ')}`);
      await new Promise<void>((resolve) => {
        const stop = () => void applier.stop().then(resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
  return cmd;
}
