import { CdcError } from './errors';
import type { KafkaClients } from './kafka';

/** One dead letter as stored: the original message with the failure in its headers. */
export interface DeadLetter {
  readonly dlqTopic: string;
  readonly dlqOffset: string;
  readonly originalTopic: string;
  readonly originalPartition: number;
  readonly originalOffset: string;
  readonly projection: string;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly failedAt: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

/** Header marking a message re-published from a dead-letter topic: the runtime applies it even though its stream position is old. */
export const RETRY_HEADER = 'strangler.retry';
/** On a retried copy: the projection that dead-lettered it. The others on the topic applied the original already and skip the copy. */
export const RETRY_PROJECTION_HEADER = 'strangler.retry.projection';

/** Every `<topic>.dlq` topic with how many dead letters it holds. */
export async function listDeadLetterTopics(kafka: KafkaClients): Promise<Array<{ topic: string; messages: number }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.endsWith('.dlq')).sort();
    const out: Array<{ topic: string; messages: number }> = [];
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      out.push({ topic, messages: offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0) });
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** Reads a dead-letter topic from the start, up to `limit` messages, without committing anything. */
export async function readDeadLetters(kafka: KafkaClients, dlqTopic: string, limit = 100): Promise<DeadLetter[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await (async () => {
    const topics = await admin.listTopics();
    if (!dlqTopic.endsWith('.dlq') || !topics.includes(dlqTopic)) {
      const known = topics.filter((t) => t.endsWith('.dlq')).sort();
      throw new CdcError(
        'STR_ERR_CDC_DLQ_UNKNOWN',
        `${dlqTopic} is not a dead-letter topic${dlqTopic.endsWith('.dlq') ? ' on this broker' : ' (their names end in .dlq)'}: ${known.length > 0 ? `there are ${known.join(', ')}` : 'there are none'} (strangler dlq list)`,
        { context: { topic: dlqTopic } },
      );
    }
    return admin.fetchTopicOffsets(dlqTopic);
  })().finally(() => admin.disconnect());
  const total = offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
  const want = Math.min(total, limit);
  if (want === 0) return [];
  const consumer = kafka.consumer(`strangler-dlq-reader-${process.pid}-${Date.now()}`);
  await consumer.connect();
  const out: DeadLetter[] = [];
  try {
    await consumer.subscribe({ topic: dlqTopic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          if (out.length >= want) return;
          const h = (k: string) => (message.headers?.[k] === undefined ? '' : String(message.headers[k]));
          out.push({
            dlqTopic,
            dlqOffset: message.offset,
            originalTopic: h('strangler.original.topic'),
            originalPartition: Number(h('strangler.original.partition') || 0),
            originalOffset: h('strangler.original.offset'),
            projection: h('strangler.projection'),
            errorCode: h('strangler.error.code'),
            errorMessage: h('strangler.error.message'),
            failedAt: h('strangler.failed.at'),
            key: message.key,
            value: message.value,
          });
          if (out.length >= want) resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => Number(BigInt(a.dlqOffset) - BigInt(b.dlqOffset)));
}

/**
 * Sends dead letters back to their original topics (all, or one by its DLQ
 * offset), marked with RETRY_HEADER so the projection that dead-lettered
 * them (RETRY_PROJECTION_HEADER) applies them although their stream position
 * is behind its checkpoint; every other projection of the topic skips them
 * as the duplicates they are. Returns how many were sent.
 */
export async function retryDeadLetters(kafka: KafkaClients, dlqTopic: string, offset?: string): Promise<number> {
  const letters = (await readDeadLetters(kafka, dlqTopic, 100_000)).filter((l) => offset === undefined || l.dlqOffset === offset);
  if (letters.length === 0 && offset !== undefined) {
    throw new CdcError('STR_ERR_CDC_DLQ_UNKNOWN', `${dlqTopic} holds no dead letter at offset ${offset} (strangler dlq show ${dlqTopic} lists them)`, { context: { topic: dlqTopic, offset } });
  }
  if (letters.length === 0) return 0;
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (const l of letters) {
      await producer.send({
        topic: l.originalTopic,
        messages: [{ key: l.key, value: l.value, partition: l.originalPartition, headers: { [RETRY_HEADER]: `${l.dlqTopic}@${l.dlqOffset}`, ...(l.projection ? { [RETRY_PROJECTION_HEADER]: l.projection } : {}) } }],
      });
    }
  } finally {
    await producer.disconnect();
  }
  return letters.length;
}
