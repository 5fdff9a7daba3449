import type { KafkaMessage } from 'kafkajs';
import type { KafkaClients } from './kafka';

/**
 * Reads offsets [from, to) of one partition with a throwaway group that
 * commits nothing (`dlq show` and `dlq retry` read topics this way). Stops
 * at `to`, when `each` returns false, or once nothing has come for `idleMs`
 * (the offsets at the end may be gone: control records, compaction).
 */
export async function readPartition(
  kafka: KafkaClients,
  topic: string,
  partition: number,
  from: bigint,
  to: bigint,
  each: (m: KafkaMessage) => boolean | void,
  idleMs = 5_000,
): Promise<void> {
  if (from >= to) return;
  const consumer = kafka.consumer(`strangler-reader-${process.pid}-${Date.now()}`);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      // Joining the group takes a while at first.
      let idle = setTimeout(resolve, idleMs * 3);
      const done = () => {
        clearTimeout(idle);
        resolve();
      };
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (batch.partition !== partition) return;
            clearTimeout(idle);
            idle = setTimeout(resolve, idleMs);
            for (const m of batch.messages) {
              const offset = BigInt(m.offset);
              if (offset < from) continue;
              if (offset >= to || each(m) === false || offset >= to - 1n) return done();
            }
          },
        })
        .then(() => consumer.seek({ topic, partition, offset: String(from) }), reject);
    });
  } finally {
    await consumer.disconnect();
  }
}
