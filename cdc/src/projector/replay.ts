import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { sleep } from '@strangler/common';
import { CdcError } from '../errors';
import { ensureNotificationTopics, signalSnapshot, watchSnapshots } from '../snapshot';
import type { KafkaClients } from '../kafka';
import { clearCheckpoints, writeCheckpoint } from './checkpoints';
import { Projector } from './runtime';
import type { Projection } from './types';

export interface ReplayProgress {
  readonly applied: number;
  readonly eventsPerSecond: number;
  readonly lag: number;
  readonly etaSeconds: number | null;
  readonly phase: 'replaying' | 'swapping' | 'done';
}

export interface ReplayResult {
  readonly applied: number;
  readonly seconds: number;
  /** A rebuild that went on from where a stopped one had got to. */
  readonly resumed: boolean;
}

export interface ReplayOptions {
  readonly kafka: KafkaClients;
  readonly db: Knex;
  /** The live projection's consumer group. @default strangler-projection-<name> */
  readonly liveGroupId?: string;
  /**
   * 'earliest'; a time (events written to Kafka from then on); or 'snapshot':
   * Debezium re-reads the tables (an incremental snapshot asked for through
   * each tenant's signal table), for topics whose retention lost the history.
   */
  readonly from: 'earliest' | Date | 'snapshot';
  /** A tenant's monolith database, where 'snapshot' writes its signal. */
  readonly sourceUrl?: (tenant: string) => string;
  /** Build fresh tables beside the live ones and swap them in once caught up (no downtime). */
  readonly rebuild: boolean;
  readonly onProgress?: (p: ReplayProgress) => void;
  /** Stop early (Ctrl-C); a rebuild then leaves the live tables untouched. */
  readonly signal?: AbortSignal;
}

/**
 * Replays a projection's topics.
 * - With `rebuild`, a second projector fills fresh tables in their own
 *   schema from the beginning while the live projection keeps serving; once
 *   it has caught up with the live one on every partition, one transaction
 *   moves the live tables out, the rebuilt ones in, and hands the rebuilt
 *   checkpoints to the live projection, which carries on from there.
 * - Without it, the live projection's checkpoints are forgotten and its
 *   group rewound (earliest or a time); its projector must be stopped first,
 *   and the replay runs here until caught up.
 */
export async function replay(projection: Projection, o: ReplayOptions): Promise<ReplayResult> {
  const liveGroup = o.liveGroupId ?? `strangler-projection-${projection.name}`;
  const started = Date.now();
  if (o.from === 'snapshot' && !o.rebuild) {
    throw new CdcError('STR_ERR_CDC_REPLAY_UNSUPPORTED', 'a snapshot replay fills fresh tables (rows deleted while the history was lost must not survive): add --rebuild');
  }
  // Before anything changes (the group's offsets, the checkpoints): the database the projection writes to must answer.
  await o.db.raw('SELECT 1').catch((err: Error) => {
    throw new CdcError('STR_ERR_CDC_TARGET_UNAVAILABLE', `projection ${projection.name}: its database does not accept connections (${err.message})`, { cause: err, retriable: true });
  });
  if (o.rebuild) return rebuild(projection, liveGroup, o, started);

  const admin = o.kafka.admin();
  await admin.connect();
  try {
    const group = (await admin.describeGroups([liveGroup])).groups[0];
    if (group && group.members.length > 0) {
      throw new CdcError('STR_ERR_CDC_REPLAY_LIVE', `projection ${projection.name} is running (${group.members.length} member(s) in group ${liveGroup}): stop it first, or replay with --rebuild, which needs no downtime`);
    }
    const topics = await topicsOf(projection, admin);
    for (const topic of topics) {
      if (o.from === 'snapshot') continue;
      if (o.from === 'earliest') await admin.resetOffsets({ groupId: liveGroup, topic, earliest: true });
      else {
        const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, o.from.getTime());
        await admin.setOffsets({ groupId: liveGroup, topic, partitions: offsets.map((p) => ({ partition: p.partition, offset: p.offset })) });
      }
    }
  } finally {
    await admin.disconnect();
  }
  await clearCheckpoints(o.db, projection.name);
  const projector = new Projector(projection, { kafka: o.kafka, db: o.db, groupId: liveGroup });
  await projector.start();
  try {
    const applied = await follow(projector, o, () => Promise.resolve(true));
    return { applied, seconds: (Date.now() - started) / 1000, resumed: false };
  } finally {
    await projector.stop();
  }
}

async function rebuild(projection: Projection, liveGroup: string, o: ReplayOptions, started: number): Promise<ReplayResult> {
  if (!projection.rebuild) throw new CdcError('STR_ERR_CDC_REPLAY_UNSUPPORTED', `projection ${projection.name} cannot be rebuilt beside itself (it names no tables to swap)`);
  if (o.from instanceof Date) throw new CdcError('STR_ERR_CDC_REPLAY_UNSUPPORTED', 'a rebuild needs the whole history: --from earliest, or snapshot when retention lost it');
  // A rebuild from the earliest event has one name per projection and group, so that a stopped one is resumed;
  // a snapshot rebuild depends on Debezium's signals, and always starts afresh.
  const resumable = o.from === 'earliest';
  const id = resumable ? `r${crypto.createHash('sha256').update(`${projection.name}\u0000${liveGroup}`).digest('hex').slice(0, 12)}` : `${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`;
  const schema = `rebuild_${id}`;
  const shadow = projection.rebuild.into(schema);
  const groupId = `${liveGroup}-rebuild-${id}`;
  const projector = new Projector(shadow, { kafka: o.kafka, db: o.db, groupId, startAtCheckpoints: o.from === 'snapshot' });
  const exists = (await o.db.raw<{ rows: unknown[] }>('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema])).rows.length > 0;
  const resumed = resumable && exists;
  if (!resumed) {
    await o.db.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await clearCheckpoints(o.db, shadow.name);
    // The group of an earlier, finished rebuild holds offsets at the end: a fresh rebuild must not inherit them.
    const admin = o.kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
    await o.db.raw(`CREATE SCHEMA "${schema}"`);
  }
  let swapped = false;
  let keep = false;
  let snapshot: Awaited<ReturnType<typeof startSnapshot>> | null = null;
  try {
    // From a snapshot: the fresh tables start at today's end of each topic; Debezium re-reads the rows into it.
    if (o.from === 'snapshot') snapshot = await startSnapshot(projection, shadow, groupId, id, o);
    await projector.start();
    const applied = await follow(projector, o, async () => {
      if (snapshot && !snapshot.completed()) return false;
      return (swapped = await trySwap(o.db, projection, shadow, schema, `retired_${id}`));
    });
    return { applied, seconds: (Date.now() - started) / 1000, resumed };
  } catch (err) {
    // Stopped (Ctrl-C) or failed half-way: the rebuilt tables and their checkpoints stay, and the same command resumes.
    keep = resumable;
    throw err;
  } finally {
    await snapshot?.close();
    await projector.stop();
    if (!keep) {
      await clearCheckpoints(o.db, shadow.name);
      const admin = o.kafka.admin();
      await admin.connect();
      await admin.deleteGroups([groupId, `${groupId}-notifications`]).catch(() => {});
      await admin.disconnect();
      // Rebuilt tables that never went live, or the retired ones that did: neither is needed any more.
      await o.db.raw(`DROP SCHEMA IF EXISTS "${swapped ? `retired_${id}` : schema}" CASCADE`);
      if (swapped) await o.db.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  }
}

/**
 * Starts an incremental snapshot of a projection's tables in every tenant
 * database it reads: the rebuild's checkpoints are set to the end of each
 * topic first (nothing older is applied, or read), then one execute-snapshot
 * signal per tenant goes into its signal table. `completed()` is true once
 * every tenant's connector reported the snapshot COMPLETED on its
 * notification topic; ABORTED or a silent connector is an error.
 */
async function startSnapshot(live: Projection, shadow: Projection, groupId: string, id: string, o: ReplayOptions) {
  if (!o.sourceUrl) throw new CdcError('STR_ERR_CDC_REPLAY_UNSUPPORTED', 'a snapshot replay needs each tenant\'s monolith database (sourceUrl) to send Debezium its signal');
  const admin = o.kafka.admin();
  await admin.connect();
  const byTenant = new Map<string, string[]>();
  try {
    const topics = await topicsOf(live, admin);
    if (topics.length === 0) throw new CdcError('STR_ERR_CDC_REPLAY_UNSUPPORTED', `projection ${live.name} reads no existing topic: nothing to snapshot`);
    for (const topic of topics) {
      const [tenant, ...table] = topic.split('.');
      byTenant.set(tenant!, [...(byTenant.get(tenant!) ?? []), table.join('.')]);
      const ends = await admin.fetchTopicOffsets(topic);
      // Checkpoints at today's end: everything older counts as applied, and the projector starts there.
      await o.db.transaction(async (trx) => {
        for (const p of ends) {
          await writeCheckpoint(trx, shadow.name, topic, p.partition, tenant!, { offset: BigInt(p.high) - 1n, commitLsn: null, lsn: null, atPosition: [] }, null);
        }
      });
    }
  } finally {
    await admin.disconnect();
  }
  await ensureNotificationTopics(o.kafka, [...byTenant.keys()]);
  const signals = new Map<string, string>(); // signal id -> tenant
  for (const [tenant, tables] of byTenant) {
    const signalId = `replay-${id}-${tenant}`.slice(0, 42);
    await signalSnapshot(o.sourceUrl(tenant), tenant, tables, signalId);
    signals.set(signalId, tenant);
  }
  return watchSnapshots(o.kafka, `${groupId}-notifications`, signals);
}

/**
 * The swap, in one transaction: only when the rebuild has applied at least
 * what the live projection has, on every partition. Holding the live
 * checkpoint rows keeps the live projector out while the tables change hands.
 */
async function trySwap(db: Knex, live: Projection, rebuilt: Projection, schema: string, retired: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const rows = (
      await trx.raw<{ rows: Array<{ projection: string; topic: string; partition: number; kafka_offset: string }> }>(
        `SELECT projection, topic, partition, kafka_offset FROM strangler.projection_checkpoints WHERE projection IN (?, ?) ORDER BY projection, topic, partition FOR UPDATE`,
        [live.name, rebuilt.name],
      )
    ).rows;
    const rebuiltAt = new Map(rows.filter((r) => r.projection === rebuilt.name).map((r) => [`${r.topic}:${r.partition}`, BigInt(r.kafka_offset)]));
    const behind = rows.filter((r) => r.projection === live.name).some((r) => (rebuiltAt.get(`${r.topic}:${r.partition}`) ?? -1n) < BigInt(r.kafka_offset));
    if (behind || rebuiltAt.size === 0) return false;
    await trx.raw(`CREATE SCHEMA "${retired}"`);
    for (const table of live.rebuild!.tables) {
      const bare = table.split('.')[1]!;
      const home = table.split('.')[0]!;
      await trx.raw(`ALTER TABLE IF EXISTS ${quote(table)} SET SCHEMA "${retired}"`);
      await trx.raw(`ALTER TABLE "${schema}"."${bare}" SET SCHEMA "${home}"`);
    }
    await trx.raw(`DELETE FROM strangler.projection_checkpoints WHERE projection = ?`, [live.name]);
    await trx.raw(
      `INSERT INTO strangler.projection_checkpoints (projection, topic, partition, kafka_offset, tenant, commit_lsn, lsn, position_events, source_ts, snapshot, applied_at)
       SELECT ?, topic, partition, kafka_offset, tenant, commit_lsn, lsn, position_events, source_ts, snapshot, applied_at FROM strangler.projection_checkpoints WHERE projection = ?`,
      [live.name, rebuilt.name],
    );
    return true;
  });
}

/** Runs until the projector has caught up (then `done()` decides), reporting progress every second. */
async function follow(projector: Projector, o: ReplayOptions, done: () => Promise<boolean>): Promise<number> {
  let last = 0;
  let lastAt = Date.now();
  let quietSince: number | null = null;
  for (;;) {
    if (o.signal?.aborted) throw new CdcError('STR_ERR_CDC_REPLAY_STOPPED', 'replay stopped before it caught up; the live tables are untouched (a --rebuild from earliest resumes where it stopped when run again)');
    await sleep(1000);
    const status = projector.status();
    const applied = status.reduce((n, s) => n + s.applied, 0);
    const lag = status.reduce((n, s) => n + s.consumerLag, 0);
    const now = Date.now();
    const rate = ((applied - last) * 1000) / Math.max(1, now - lastAt);
    last = applied;
    lastAt = now;
    o.onProgress?.({ applied, eventsPerSecond: Math.round(rate), lag, etaSeconds: rate > 0 ? Math.round(lag / rate) : null, phase: 'replaying' });
    // Caught up: every partition seen, nothing left, and quiet for a moment. A resumed
    // rebuild may get no batch at all (nothing left): then the checkpoints say it.
    const caughtUp = status.length > 0 ? lag === 0 : await projector.caughtUpByCheckpoints().catch(() => false);
    if (caughtUp) {
      quietSince ??= now;
      if (now - quietSince >= 1000) {
        o.onProgress?.({ applied, eventsPerSecond: 0, lag: 0, etaSeconds: 0, phase: 'swapping' });
        if (await done()) {
          o.onProgress?.({ applied, eventsPerSecond: 0, lag: 0, etaSeconds: 0, phase: 'done' });
          return applied;
        }
      }
    } else quietSince = null;
  }
}

async function topicsOf(projection: Projection, admin: ReturnType<KafkaClients['admin']>): Promise<string[]> {
  const t = projection.topics;
  if (!(t instanceof RegExp)) return [...t];
  return (await admin.listTopics()).filter((name) => t.test(name));
}

function quote(table: string): string {
  return table
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}
