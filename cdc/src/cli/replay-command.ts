import { type Command, InvalidArgumentError } from 'commander';
import knexFactory from 'knex';
import { UsageError } from '@strangler/common';
import { commandBrokers, explainingKafka, kafkaClients, reachBroker } from '../kafka';
import { replay, type ReplayProgress } from '../projector/replay';
import type { Projection } from '../projector/types';

/** A projection the CLI can replay, with the database it writes to. */
export interface ReplayableProjection {
  readonly description: string;
  /** The service database (default: the stack's). */
  readonly defaultDatabaseUrl: string;
  build(options: { tenants: readonly string[] }): Promise<Projection>;
  /** A tenant's monolith database (for --from snapshot, which signals Debezium there). */
  sourceUrl?(tenant: string): string;
  /** Its tenants, where it knows them (a project file's); else --tenants, STRANGLER_TENANTS, acme,globex. */
  readonly tenants?: readonly string[];
}

/** The projections a project file declares (its services' mirrors), by name: given by the CLI that knows project files. */
export type ProjectProjections = (file: string) => Readonly<Record<string, ReplayableProjection>>;

function from(value: string): 'earliest' | Date | 'snapshot' {
  if (value === 'earliest' || value === 'snapshot') return value;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('must be "earliest", "snapshot" or an ISO time such as 2026-11-25T10:00:00Z');
  return d;
}

function bar(p: ReplayProgress): string {
  const total = p.applied + p.lag;
  const done = total === 0 ? 1 : p.applied / total;
  const width = 24;
  const filled = Math.round(done * width);
  const eta = p.etaSeconds === null ? '-' : `${p.etaSeconds} s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.applied.toLocaleString('en')} events  ${p.eventsPerSecond.toLocaleString('en')}/s  lag ${p.lag.toLocaleString('en')}  ETA ${eta}  ${p.phase}`;
}

/** `strangler replay <projection> --from earliest|<ISO time>|snapshot [--rebuild]`. */
export function registerReplayCommand(program: Command, projections: Readonly<Record<string, ReplayableProjection>>, fromProject?: ProjectProjections): void {
  program
    .command('replay <projection>')
    .description(`replay a projection's topics (${Object.keys(projections).join(', ')})`)
    .requiredOption('--from <earliest|time|snapshot>', 'earliest; an ISO time (events written to Kafka since then); or snapshot (Debezium re-reads the tables: for topics whose retention lost the history; needs --rebuild)', from)
    .option('--rebuild', 'build fresh tables beside the live ones and swap them in once caught up (no downtime)')
    .option('--database-url <url>', "the projection's database (default: the stack's)")
    .option('--project <file>', "a project file: <projection> is one of its services (or its mirror's name), with the service's database and the file's tenants")
    .option('--tenants <list>', "tenants whose topics to read (default: the project file's, else STRANGLER_TENANTS, then acme,globex)")
    .option('--kafka <host:port>', 'bootstrap broker (env STRANGLER_KAFKA, default 127.0.0.1:19092)')
    .option('--group <id>', "the live projection's consumer group (default strangler-projection-<name>)")
    .action(async (name: string, opts: { from: 'earliest' | Date | 'snapshot'; rebuild?: boolean; databaseUrl?: string; project?: string; tenants?: string; kafka?: string; group?: string }) => {
      if (opts.project !== undefined && !fromProject) throw new UsageError('this command was built without project files: name one of its own projections');
      const choices = opts.project !== undefined ? fromProject!(opts.project) : projections;
      const known = choices[name];
      if (!known) throw new UsageError(`no projection "${name}"${opts.project ? ` in ${opts.project}` : ''}: use one of ${Object.keys(choices).join(', ') || '(none: declare a service with mirrors in the project file)'}${opts.project ? '' : ' (or --project FILE for a project\'s mirrors)'}`);
      const tenants = opts.tenants !== undefined ? opts.tenants.split(',').map((t) => t.trim()).filter(Boolean) : known.tenants ? [...known.tenants] : (process.env.STRANGLER_TENANTS ?? 'acme,globex').split(',').map((t) => t.trim()).filter(Boolean);
      const brokers = commandBrokers(opts.kafka);
      await reachBroker(brokers);
      // knex's warnings are connection errors with their stacks; the command reports those itself, once, typed.
      const db = knexFactory({ client: 'pg', connection: opts.databaseUrl ?? known.defaultDatabaseUrl, pool: { min: 0, max: 8 }, log: { warn: () => {} } });
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      try {
        const tty = process.stderr.isTTY;
        const projection = await known.build({ tenants });
        const result = await explainingKafka(brokers, () => replay(projection, {
          kafka: kafkaClients(brokers, 'strangler-replay'),
          db,
          from: opts.from,
          rebuild: opts.rebuild === true,
          ...(known.sourceUrl ? { sourceUrl: (t: string) => known.sourceUrl!(t) } : {}),
          signal: controller.signal,
          ...(opts.group ? { liveGroupId: opts.group } : {}),
          onProgress: (p) => process.stderr.write(tty ? `\r${bar(p)}\u001b[K` : `${bar(p)}\n`),
        }));
        if (tty) process.stderr.write('\n');
        console.log(`${name}: replayed ${result.applied} events in ${result.seconds.toFixed(1)} s${result.resumed ? ' (resumed a stopped rebuild)' : ''}${opts.rebuild ? ', rebuilt tables swapped in' : ''}`);
      } finally {
        await db.destroy();
      }
    });
}
