import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { randomName, testStack } from './env';

export interface ReadRecord {
  readonly topic: string;
  readonly key: unknown;
  /** The Debezium envelope's payload, or null for a tombstone. */
  readonly value: Record<string, any> | null;
}

/** Reads topics from the beginning with kafkajs, collecting records until a predicate holds. */
export class TopicReader {
  readonly records: ReadRecord[] = [];
  private constructor(private readonly consumer: Consumer) {}

  static async open(topics: readonly (string | RegExp)[]): Promise<TopicReader> {
    const kafka = new Kafka({ clientId: randomName('e2e'), brokers: [testStack().kafka], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: randomName('e2e'), maxWaitTimeInMs: 100 });
    const reader = new TopicReader(consumer);
    await consumer.connect();
    try {
      // Connect creates a table's topic with its first record: wait until the broker knows every named topic.
      const admin = kafka.admin();
      await admin.connect();
      try {
        const named = topics.filter((t): t is string => typeof t === 'string');
        for (let i = 0; ; i++) {
          const existing = new Set(await admin.listTopics());
          if (named.every((t) => existing.has(t))) break;
          if (i > 300) throw new Error(`topics never appeared: ${named.filter((t) => !existing.has(t)).join(', ')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await admin.disconnect();
      }
      await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    } catch (err) {
      await consumer.disconnect();
      throw err;
    }
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        const parse = (buf: Buffer | null) => (buf === null ? null : (JSON.parse(buf.toString('utf8')) as { payload: unknown }).payload);
        reader.records.push({ topic, key: parse(message.key), value: parse(message.value) as Record<string, any> | null });
      },
    });
    return reader;
  }

  async until(what: string, done: (records: readonly ReadRecord[]) => boolean, timeoutMs = 30_000): Promise<readonly ReadRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.records)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; read ${this.records.length} records: ${JSON.stringify(this.records.map((r) => [r.topic, r.value?.op ?? 'tombstone']))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.records;
  }

  async close(): Promise<void> {
    await this.consumer.disconnect();
  }
}
