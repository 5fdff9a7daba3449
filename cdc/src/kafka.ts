import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';

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
}

export function kafkaClients(brokers: readonly string[], clientId: string, options: KafkaClientOptions = {}): KafkaClients {
  const kafka = new Kafka({ clientId, brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200 } });
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

export type { Consumer, Producer };
