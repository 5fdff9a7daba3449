import type { DeadLetter } from './dlq';
import type { KafkaClients } from './kafka';
import { readPartition } from './partition-reader';

/** Header marking a message re-published from a dead-letter topic, valued `<dlq topic>@<dlq offset>`. */
export const RETRY_HEADER = 'strangler.retry';

/** What the original partition says happened after a dead letter. */
export interface LetterHistory {
  /** The offset of a later event of the same row (same Kafka key) that its projection applied: sending the letter back would set the row back. */
  readonly supersededBy?: string;
  /** The offset of a copy of this very letter already sent back by an earlier `dlq retry`. */
  readonly retriedAt?: string;
}

/**
 * Reads each letter's original partition from just after the letter to its
 * end and reports, per letter (by `dlqTopic@dlqOffset`), whether a later event
 * of the same key was applied by the letter's projection (an event of the key
 * that is not itself one of that projection's dead letters, or a later dead
 * letter of it sent back since), and whether a copy of the letter was already
 * sent back. `all` is every letter of the DLQ topic:
 * it says which later events the projection did not apply. Letters without a key
 * (a table streamed without one) cannot be told apart and get no history.
 */
export async function letterHistories(
  kafka: KafkaClients,
  letters: readonly DeadLetter[],
  all: readonly DeadLetter[],
  onScan?: (scan: { topic: string; partition: number; from: string; to: string }) => void,
  idleMs = 5_000,
): Promise<Map<string, LetterHistory>> {
  const out = new Map<string, LetterHistory>();
  const byPartition = new Map<string, DeadLetter[]>();
  for (const l of letters) {
    const k = `${l.originalPartition}:${l.originalTopic}`;
    byPartition.set(k, [...(byPartition.get(k) ?? []), l]);
  }
  const allById = new Map(all.map((l) => [letterId(l), l]));
  const failed = new Set(all.map((l) => `${l.projection}|${l.originalTopic}|${l.originalPartition}|${l.originalOffset}`));
  for (const group of byPartition.values()) {
    const { originalTopic: topic, originalPartition: partition } = group[0]!;
    const from = group.reduce((min, l) => (BigInt(l.originalOffset) < min ? BigInt(l.originalOffset) : min), BigInt(group[0]!.originalOffset)) + 1n;
    const byKey = new Map<string, DeadLetter[]>();
    for (const l of group) if (l.key !== null) byKey.set(l.key.toString('hex'), [...(byKey.get(l.key.toString('hex')) ?? []), l]);
    const byRetry = new Map(group.map((l) => [letterId(l), l]));
    await scanPartition(kafka, topic, partition, from, idleMs, onScan, (offset, key, retry) => {
      const copyOf = retry === undefined ? undefined : allById.get(retry);
      if (retry !== undefined) {
        const l = byRetry.get(retry);
        if (l !== undefined) record(out, l, { retriedAt: offset });
      }
      for (const l of (key === null ? undefined : byKey.get(key.toString('hex'))) ?? []) {
        if (retry === undefined) {
          // An event of the row after the letter, unless the letter's projection dead-lettered it too.
          if (BigInt(offset) > BigInt(l.originalOffset) && !failed.has(`${l.projection}|${topic}|${partition}|${offset}`)) record(out, l, { supersededBy: offset });
        } else if (
          copyOf !== undefined &&
          copyOf.projection === l.projection &&
          copyOf.originalTopic === topic &&
          BigInt(copyOf.originalOffset) > BigInt(l.originalOffset) &&
          !failed.has(`${l.projection}|${topic}|${partition}|${offset}`)
        ) {
          // A later dead letter of the row, sent back and applied since (the copy was not dead-lettered in its turn).
          record(out, l, { supersededBy: offset });
        }
      }
    });
  }
  return out;
}

export const letterId = (l: DeadLetter) => `${l.dlqTopic}@${l.dlqOffset}`;

/** Keeps the first offset seen of each kind. */
function record(out: Map<string, LetterHistory>, l: DeadLetter, h: LetterHistory): void {
  const was = out.get(letterId(l)) ?? {};
  out.set(letterId(l), { supersededBy: was.supersededBy ?? h.supersededBy, retriedAt: was.retriedAt ?? h.retriedAt });
}

/** Reads one partition from `from` to its high watermark at the start (readPartition), saying so first. */
async function scanPartition(
  kafka: KafkaClients,
  topic: string,
  partition: number,
  from: bigint,
  idleMs: number,
  onScan: ((scan: { topic: string; partition: number; from: string; to: string }) => void) | undefined,
  each: (offset: string, key: Buffer | null, retry: string | undefined) => void,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const high = await admin
    .fetchTopicOffsets(topic)
    .then((offsets) => BigInt(offsets.find((o) => o.partition === partition)?.high ?? '0'))
    .finally(() => admin.disconnect());
  if (from >= high) return;
  onScan?.({ topic, partition, from: String(from), to: String(high - 1n) });
  await readPartition(
    kafka,
    topic,
    partition,
    from,
    high,
    (m) => {
      const retry = m.headers?.[RETRY_HEADER];
      each(m.offset, m.key ?? null, retry === undefined ? undefined : String(retry));
    },
    idleMs,
  );
}
