import { CdcError } from './errors';
import { letterHistories, letterId, RETRY_HEADER, type LetterHistory } from './dlq-history';
import type { KafkaClients } from './kafka';
import { readPartition } from './partition-reader';

export { RETRY_HEADER };

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
  const out: DeadLetter[] = [];
  for (const p of [...offsets].sort((a, b) => a.partition - b.partition)) {
    if (out.length >= limit) break;
    await readPartition(kafka, dlqTopic, p.partition, BigInt(p.low), BigInt(p.high), (message) => {
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
      return out.length < limit;
    });
  }
  return out.sort((a, b) => Number(BigInt(a.dlqOffset) - BigInt(b.dlqOffset)));
}

export interface RetryOptions {
  /** Only the dead letter at this offset of the DLQ topic. */
  readonly offset?: string;
  /** Only the dead letters of this projection. */
  readonly projection?: string;
  /** Send letters a later event of the same row has overtaken too (a mirror then sets the row back to the old event). */
  readonly includeSuperseded?: boolean;
  /** Send letters that an earlier retry sent back already (they are applied again). */
  readonly again?: boolean;
  /** Told before each original partition is read (from the first letter on: a long read on a big topic). */
  readonly onScan?: (scan: { topic: string; partition: number; from: string; to: string }) => void;
}

export interface RetryResult {
  readonly sent: readonly DeadLetter[];
  /** Not sent: a later event of the same row was applied by the letter's projection, at this offset of the original partition. */
  readonly superseded: ReadonlyArray<{ readonly letter: DeadLetter; readonly by: string }>;
  /** Not sent: an earlier retry sent this letter back already, at this offset of the original partition. */
  readonly retried: ReadonlyArray<{ readonly letter: DeadLetter; readonly at: string }>;
}

/**
 * Sends dead letters back to their original topics, marked with RETRY_HEADER
 * so the projection that dead-lettered them (RETRY_PROJECTION_HEADER) applies
 * them although their stream position is behind its checkpoint; every other
 * projection of the topic skips them as the duplicates they are.
 *
 * A dead letter is an old event. Before sending, the original partition is
 * read from the letter on: a letter whose row (Kafka key) changed again later,
 * in an event its projection applied, is not sent (a projection that keeps rows,
 * a mirror, would set the row back to the old event), nor is a letter an
 * earlier retry sent back already (a projection that counts would count it
 * twice), unless asked.
 */
export async function retryDeadLetters(kafka: KafkaClients, dlqTopic: string, options: RetryOptions = {}): Promise<RetryResult> {
  const { offset, projection } = options;
  const all = await readDeadLetters(kafka, dlqTopic, 1_000_000);
  const letters = all.filter((l) => (offset === undefined || l.dlqOffset === offset) && (projection === undefined || l.projection === projection));
  if (letters.length === 0 && (offset !== undefined || projection !== undefined)) {
    const which = [offset === undefined ? '' : `at offset ${offset}`, projection === undefined ? '' : `of projection ${projection}`].filter(Boolean).join(' ');
    throw new CdcError('STR_ERR_CDC_DLQ_UNKNOWN', `${dlqTopic} holds no dead letter ${which} (strangler dlq show ${dlqTopic} lists them)`, { context: { topic: dlqTopic, offset, projection } });
  }
  const histories = letters.length === 0 ? new Map<string, LetterHistory>() : await letterHistories(kafka, letters, all, options.onScan);
  const sent: DeadLetter[] = [];
  const superseded: Array<{ letter: DeadLetter; by: string }> = [];
  const retried: Array<{ letter: DeadLetter; at: string }> = [];
  for (const letter of letters) {
    const h = histories.get(letterId(letter)) ?? {};
    if (h.retriedAt !== undefined && !options.again) retried.push({ letter, at: h.retriedAt });
    else if (h.supersededBy !== undefined && !options.includeSuperseded) superseded.push({ letter, by: h.supersededBy });
    else sent.push(letter);
  }
  if (sent.length === 0) return { sent, superseded, retried };
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (const l of sent) {
      await producer.send({
        topic: l.originalTopic,
        messages: [{ key: l.key, value: l.value, partition: l.originalPartition, headers: { [RETRY_HEADER]: letterId(l), ...(l.projection ? { [RETRY_PROJECTION_HEADER]: l.projection } : {}) } }],
      });
    }
  } finally {
    await producer.disconnect();
  }
  return { sent, superseded, retried };
}
