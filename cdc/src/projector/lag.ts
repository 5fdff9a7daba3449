import knexFactory from 'knex';
import type { KafkaClients } from '../kafka';
import { listCheckpoints } from './checkpoints';

export interface ProjectionLagRow {
  readonly projection: string;
  readonly tenant: string;
  readonly topic: string;
  readonly partition: number;
  /** Messages on the partition not yet applied. */
  readonly consumerLag: number;
  /** Source commit time of the newest change applied. */
  readonly lastSourceCommit: string | null;
  /** When that change was applied, and how long after its commit (end-to-end lag of the newest event). */
  readonly appliedAt: string;
  readonly endToEndMs: number | null;
}

/** Lag of every projection checkpointed in a service database, against the topics' ends. */
export async function projectionLag(serviceDbUrl: string, kafka: KafkaClients): Promise<ProjectionLagRow[]> {
  // knex's own logger writes connection errors to stdout, which would break `cdc status --json`;
  // the error reaches the caller anyway (as a rejection).
  const quiet = () => {};
  const db = knexFactory({ client: 'pg', connection: serviceDbUrl, pool: { min: 0, max: 1 }, log: { warn: quiet, error: quiet, debug: quiet, deprecate: quiet } });
  let rows;
  try {
    rows = await listCheckpoints(db);
  } finally {
    await db.destroy();
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, Map<number, bigint>>();
    for (const topic of new Set(rows.map((r) => r.topic))) {
      const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
      ends.set(topic, new Map(offsets.map((o) => [o.partition, BigInt(o.high)])));
    }
    return rows.map((r) => {
      const high = ends.get(r.topic)?.get(r.partition) ?? BigInt(r.kafka_offset) + 1n;
      return {
        projection: r.projection,
        tenant: r.tenant,
        topic: r.topic,
        partition: r.partition,
        consumerLag: Math.max(0, Number(high - BigInt(r.kafka_offset) - 1n)),
        lastSourceCommit: r.source_ts?.toISOString() ?? null,
        appliedAt: r.applied_at.toISOString(),
        endToEndMs: r.source_ts ? r.applied_at.getTime() - r.source_ts.getTime() : null,
      };
    });
  } finally {
    await admin.disconnect();
  }
}

export function formatProjectionLag(rows: readonly ProjectionLagRow[]): string {
  if (rows.length === 0) return 'no projection has applied an event here yet (a projection writes its checkpoint with its first event)';
  // The newest change applied: its commit, when it was applied, and how long after its commit (a replay
  // applies old changes again, so APPLIED AT says it is that change's figure, not the lag now: LAG is).
  const head = ['PROJECTION', 'TOPIC', 'PART', 'LAG', 'LAST SOURCE COMMIT', 'APPLIED AT', 'APPLIED AFTER'];
  const body = rows.map((r) => [r.projection, r.topic, String(r.partition), String(r.consumerLag), r.lastSourceCommit ?? '-', r.appliedAt, r.endToEndMs === null ? '-' : `${r.endToEndMs} ms`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
