import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConnectClient, DROP_ORIGIN_TRANSFORM, hasTransform, kafkaClients, PROJECTION_ORIGIN_PREFIX, sameConfig } from '@strangler/cdc';
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
      const source = { service: o.service, host: u.hostname, port: Number(u.port || 5432), database: u.pathname.slice(1), user: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password), tables: o.table };
      // Checked now, to refuse a bad service or table list at once; registered with DropOrigin where the workers have it.
      backSyncConnectorConfig(source);
      const config = async () => backSyncConnectorConfig({ ...source, dropOrigins: (await hasTransform(connect, DROP_ORIGIN_TRANSFORM)) ? [PROJECTION_ORIGIN_PREFIX] : [] });
      const connect = new ConnectClient(o.connect);
      const name = backSyncConnectorName(o.service);
      const applier = new BackSyncApplier({
        service: o.service,
        kafka: kafkaClients(o.kafka.split(','), `strangler-backsync-${o.service}`, { sessionTimeoutMs: o.sessionTimeout }),
        monoliths: o.monolith,
        domain: o.domain,
        onOwnership: (t, owner, epoch) => console.log(`backsync ${o.service}: ${t}'s ${o.domain} is owned by the ${owner} from here on (epoch ${epoch})`),
        ...(o.group ? { groupId: o.group } : {}),
        onError: (err) => console.error(`backsync: ${(err as Error).message}`),
      });
      // The applier needs Kafka only (it makes its topic); the connector is registered beside it, and a Kafka Connect
      // that is away (restarting, say) is waited for: back-sync does not die with it, the changes wait in the slot.
      await applier.start();
      console.log(`backsync ${o.service}: applying ${applier.topic} to the tenants whose ${o.domain} it owns, of ${Object.keys(o.monolith).join(', ')}`);
      const stopping = new AbortController();
      const registered = registerWhenReachable(connect, name, config, stopping.signal, (err) => console.error(`backsync ${o.service}: ${err.message}; registering its connector again every 2 s meanwhile`)).then(
        (action) => action !== null && console.log(`backsync ${o.service}: connector ${name} ${action}`),
        (err: Error) => {
          console.error(`backsync ${o.service}: ${err.message}`);
          process.exitCode = 1;
          process.kill(process.pid, 'SIGTERM');
        },
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          stopping.abort();
          void applier.stop().then(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await registered;
    });
  return cmd;
}

/**
 * Registers (or updates) the back-sync connector, retrying every 2 s while
 * Kafka Connect does not answer or is starting (told once); a config
 * Connect rejects (400) is not retried. Null when stopped first.
 */
async function registerWhenReachable(connect: ConnectClient, name: string, configOf: () => Promise<Record<string, string>>, signal: AbortSignal, waiting: (err: Error) => void): Promise<'created' | 'updated' | 'unchanged' | null> {
  let told = false;
  while (!signal.aborted) {
    try {
      const config = await configOf();
      const current = await connect.getConfig(name);
      if (current && sameConfig(current, config)) return 'unchanged';
      await connect.putConfig(name, config);
      return current ? 'updated' : 'created';
    } catch (err) {
      // Only a config Connect refuses (400) is final: a worker that is starting answers 404 and 409 for a while.
      const status = (err as { context?: { status?: number } }).context?.status;
      if (status === 400 || (status === undefined && !(err as { retriable?: boolean }).retriable)) throw err;
      if (!told) waiting(err as Error);
      told = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  return null;
}
