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

export function kafkaClients(brokers: readonly string[], clientId: string): KafkaClients {
  const kafka = new Kafka({ clientId, brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200 } });
  return {
    consumer: (groupId) =>
      kafka.consumer({ groupId, maxBytesPerPartition: 8 * 1024 * 1024, maxBytes: 32 * 1024 * 1024, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 100 }),
    producer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1 }),
    admin: () => kafka.admin(),
  };
}

export type { Consumer, Producer };
