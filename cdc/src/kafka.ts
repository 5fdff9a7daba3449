import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { CdcError } from './errors';

/**
 * The one place cdc/ touches the Kafka client (kafkajs, as the project's
 * card asks), so that swapping it for another client stays a local change.
 */
export interface KafkaClients {
  consumer(groupId: string): Consumer;
  producer(): Producer;
  admin: Kafka['admin'];
}

export interface KafkaClientOptions {
  /**
   * How long the group waits for a consumer that stopped heartbeating (a crash)
   * before its partitions move; the broker bounds it (group.min.session.timeout.ms).
   * @default 30000
   */
  readonly sessionTimeoutMs?: number;
  /**
   * Retries of a failed request or connection, backing off from 200 ms. A
   * service rides out a broker restart; a command a user waits on says soon
   * that no broker answers.
   * @default 8
   */
  readonly retries?: number;
}

export function kafkaClients(brokers: readonly string[], clientId: string, options: KafkaClientOptions = {}): KafkaClients {
  const kafka = new Kafka({ clientId, brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: options.retries ?? 8, initialRetryTime: 200 } });
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  return {
    consumer: (groupId) =>
      kafka.consumer({
        groupId,
        maxBytesPerPartition: 8 * 1024 * 1024,
        maxBytes: 32 * 1024 * 1024,
        sessionTimeout,
        heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 4)),
        maxWaitTimeInMs: 100,
      }),
    producer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1 }),
    admin: () => kafka.admin(),
  };
}

/** The options of a command a user waits on: a few retries, then a clear error (see explainKafkaError). */
export const COMMAND_KAFKA_OPTIONS: KafkaClientOptions = { retries: 2 };

/**
 * kafkajs's way of saying that no broker answered (a connection error, maybe
 * wrapped in "retries exceeded"), as STR_ERR_CDC_KAFKA_UNREACHABLE with what
 * to do; any other error unchanged.
 */
export function explainKafkaError(err: unknown, brokers: readonly string[]): unknown {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSBrokerNotFound' || e.name === 'KafkaJSConnectionClosedError') {
      return new CdcError(
        'STR_ERR_CDC_KAFKA_UNREACHABLE',
        `no Kafka broker answered at ${brokers.join(', ')} (${e.message}): is the stack running (npm start)? For another broker pass --kafka host:port or set STRANGLER_KAFKA`,
        { cause: err, retriable: true },
      );
    }
  }
  return err;
}

/** The broker a command talks to: its --kafka option, then STRANGLER_KAFKA, then the stack's. */
export function commandBrokers(option: string | undefined): string[] {
  return [option ?? process.env.STRANGLER_KAFKA ?? '127.0.0.1:19092'];
}

/** Connects once with a command's few retries: a long-running command fails fast when no broker is there. */
export async function reachBroker(brokers: readonly string[]): Promise<void> {
  const admin = kafkaClients(brokers, 'strangler-cli', COMMAND_KAFKA_OPTIONS).admin();
  await explainingKafka(brokers, () => admin.connect());
  await admin.disconnect();
}

/** Runs `fn`, turning an unreachable broker into STR_ERR_CDC_KAFKA_UNREACHABLE. */
export async function explainingKafka<T>(brokers: readonly string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw explainKafkaError(err, brokers);
  }
}

export type { Admin, Consumer, Producer };
