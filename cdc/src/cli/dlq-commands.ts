import type { Command } from 'commander';
import { listDeadLetterTopics, readDeadLetters, retryDeadLetters } from '../dlq';
import { commandBrokers, COMMAND_KAFKA_OPTIONS, explainingKafka, kafkaClients, type KafkaClients } from '../kafka';

/** `strangler dlq list | show <dlq-topic> | retry <dlq-topic> [--offset N]`. */
export function registerDlqCommands(program: Command): void {
  const dlq = program
    .command('dlq')
    .description("dead letters: events a projection kept failing on, kept in <topic>.dlq with the error")
    .option('--kafka <host:port>', 'bootstrap broker (env STRANGLER_KAFKA, default the stack: 127.0.0.1:19092)');
  /** Runs a subcommand with the clients of the broker it names; no broker there is a clear error, soon. */
  const withKafka = <T>(cmd: Command, fn: (clients: KafkaClients) => Promise<T>): Promise<T> => {
    const brokers = commandBrokers(cmd.optsWithGlobals<{ kafka?: string }>().kafka);
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
    .description("send dead letters back to their topic (all, or one by --offset); the projection that failed applies them again. They are old events: for a projection that keeps rows (a mirror), rows changed since would go back to them; ask for those tables' rows again instead (strangler cdc snapshot)")
    .option('--offset <n>', 'only the dead letter at this offset of the DLQ topic')
    .action(async (topic: string, opts: { offset?: string }, cmd: Command) => {
      const n = await withKafka(cmd, (k) => retryDeadLetters(k, topic, opts.offset));
      console.log(n === 0 ? 'nothing to retry' : `sent ${n} event(s) back to their topic`);
      if (n > 0) console.error('note: these are old events; a projection that keeps rows (a mirror) sets rows changed since back to them. For a mirror, `strangler cdc snapshot` the table instead.');
    });
}
