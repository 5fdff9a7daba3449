import type { Command } from 'commander';
import { UsageError } from '@strangler/common';
import { listDeadLetterTopics, readDeadLetters, retryDeadLetters, type DeadLetter } from '../dlq';
import { commandBrokers, COMMAND_KAFKA_OPTIONS, explainingKafka, kafkaClients, type KafkaClients } from '../kafka';

/** What `dlq --project FILE` takes from a project file (given by the CLI that knows project files): its Kafka, and each service's projection. */
export type DlqProjectView = (file: string) => { kafka?: string; projections: Readonly<Record<string, string>> };

/** `strangler dlq list | show <dlq-topic> | retry <dlq-topic> [--offset N]`. */
export function registerDlqCommands(program: Command, fromProject?: DlqProjectView): void {
  const dlq = program
    .command('dlq')
    .description("dead letters: events a projection kept failing on, kept in <topic>.dlq with the error")
    .option('--kafka <host:port>', 'bootstrap broker (env STRANGLER_KAFKA, default: the project file\'s, else the stack: 127.0.0.1:19092)')
    .option('--project <file>', "a project file: its Kafka, and its services' mirrors by name (retry --service)");
  const project = (cmd: Command) => {
    const file = cmd.optsWithGlobals<{ project?: string }>().project;
    if (file === undefined) return undefined;
    if (!fromProject) throw new UsageError('this command was built without project files: pass --kafka and --projection');
    return fromProject(file);
  };
  /** Runs a subcommand with the clients of the broker it names; no broker there is a clear error, soon. */
  const withKafka = <T>(cmd: Command, fn: (clients: KafkaClients) => Promise<T>): Promise<T> => {
    const brokers = commandBrokers(cmd.optsWithGlobals<{ kafka?: string }>().kafka ?? project(cmd)?.kafka);
    return explainingKafka(brokers, () => fn(kafkaClients(brokers, 'strangler-cli', COMMAND_KAFKA_OPTIONS)));
  };

  dlq
    .command('list')
    .description('every dead-letter topic and how many events it holds')
    .action(async (_o: unknown, cmd: Command) => {
      const topics = await withKafka(cmd, listDeadLetterTopics);
      if (topics.length === 0) console.log('no dead-letter topics');
      for (const t of topics) console.log(`${t.topic}  ${t.messages}`);
    });

  dlq
    .command('show <dlqTopic>')
    .description('the dead letters of one topic: origin, projection, error, event')
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
    .option('--json', 'print JSON')
    .action(async (topic: string, opts: { limit: number; json?: boolean }, cmd: Command) => {
      const letters = await withKafka(cmd, (k) => readDeadLetters(k, topic, opts.limit));
      if (opts.json) return void console.log(JSON.stringify(letters.map((l) => ({ ...l, key: l.key?.toString('utf8') ?? null, value: l.value?.toString('utf8') ?? null })), null, 2));
      if (letters.length === 0) console.log(`${topic} holds no dead letters`);
      for (const l of letters) {
        console.log(`#${l.dlqOffset} ${l.originalTopic}[${l.originalPartition}]@${l.originalOffset} projection ${l.projection} at ${l.failedAt}\n  ${l.errorCode}: ${l.errorMessage}`);
      }
    });

  dlq
    .command('retry <dlqTopic>')
    .description(
      'send dead letters back to their topic (all, or by --offset or --projection); the projection that failed applies them again. ' +
        'A letter whose row changed again later is not sent (a mirror would set the row back to the old event), nor one an earlier retry sent already',
    )
    .option('--offset <n>', 'only the dead letter at this offset of the DLQ topic')
    .option('--projection <name>', 'only the dead letters of this projection')
    .option('--service <name>', "with --project: only the dead letters of this service's mirror")
    .option('--include-superseded', 'send letters whose row changed again later too (their projection counts events rather than keeping rows)')
    .option('--again', 'send letters an earlier retry sent already')
    .action(async (topic: string, given: { offset?: string; projection?: string; service?: string; includeSuperseded?: boolean; again?: boolean }, cmd: Command) => {
      const { service, ...opts } = given;
      if (service !== undefined) {
        const view = project(cmd);
        if (!view) throw new UsageError('--service names a service of a project file: pass --project FILE too (or --projection <name>)');
        const name = view.projections[service];
        if (name === undefined) throw new UsageError(`--service ${service}: the project file declares no service with a mirror of that name (${Object.keys(view.projections).join(', ') || 'none'})`);
        if (opts.projection !== undefined && opts.projection !== name) throw new UsageError(`--service ${service} is projection ${name}, not ${opts.projection}: pass one of them`);
        opts.projection = name;
      }
      const onScan = (s: { topic: string; partition: number; from: string; to: string }) =>
        console.error(`reading ${s.topic}[${s.partition}] from offset ${s.from} to ${s.to}, to see which rows changed since their dead letter`);
      const r = await withKafka(cmd, (k) => retryDeadLetters(k, topic, { ...opts, onScan }));
      const where = (l: DeadLetter) => `#${l.dlqOffset} (${l.originalTopic}[${l.originalPartition}]@${l.originalOffset}, projection ${l.projection})`;
      for (const { letter, by } of r.superseded) console.log(`not sent ${where(letter)}: its row changed again at offset ${by}, which the projection applied`);
      for (const { letter, at } of r.retried) console.log(`not sent ${where(letter)}: sent back already, at offset ${at}`);
      for (const l of r.sent) console.log(`sent ${where(l)}`);
      console.log(r.sent.length === 0 ? 'nothing sent' : `sent ${r.sent.length} event(s) back to their topic`);
      if (r.superseded.length > 0) {
        console.log(
          `${r.superseded.length} superseded letter(s) kept back: a projection that keeps rows (a mirror) is right without them. ` +
            'To send them anyway (a projection that counts events), add --include-superseded; to re-read a table in full, strangler cdc snapshot.',
        );
      }
      if (r.retried.length > 0) console.log(`${r.retried.length} letter(s) sent back before: add --again to send them once more`);
    });
}
