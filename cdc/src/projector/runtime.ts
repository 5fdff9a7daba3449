import type { Knex } from 'knex';
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import { sleep } from '@strangler/common';
import { comparePosition, decode, isSnapshot, type ChangeEvent, type Decoded } from '../events/change-event';
import { CdcError } from '../errors';
import { RETRY_HEADER, RETRY_PROJECTION_HEADER } from '../dlq';
import type { Admin, Consumer, KafkaClients, Producer } from '../kafka';
import { type Checkpoint, listCheckpoints, readCheckpoint, writeCheckpoint } from './checkpoints';
import type { Projection } from './types';

export interface ProjectorOptions {
  readonly kafka: KafkaClients;
  /** The projection's own database (checkpoints live there, migration set "extracted"). */
  readonly db: Knex;
  /** @default strangler-projection-<name> */
  readonly groupId?: string;
  /** Events per transaction at most. @default 5000 */
  readonly maxBatch?: number;
  /** Attempts for a failing event before it goes to the dead-letter topic. @default 5 */
  readonly attempts?: number;
  /** First retry delay, doubled each time. @default 100 */
  readonly backoffMs?: number;
  readonly onError?: (err: unknown) => void;
  /**
   * Start each partition right after its checkpoint instead of at the group's
   * committed offset (a fresh group whose checkpoints were written ahead, as
   * a snapshot rebuild does). Only saves reading: what a checkpoint covers is
   * skipped anyway.
   */
  readonly startAtCheckpoints?: boolean;
  /** Called after each transaction committed, with the events it applied (not the skipped duplicates). */
  readonly onApplied?: (events: readonly ChangeEvent[], committedAtMs: number) => void;
  /**
   * How often to look, between batches, at what the consumer has not told
   * of yet: for a projection whose topics are a pattern, matching topics
   * that appeared since the consumer subscribed (a tenant onboarded, a
   * table's first event; the consumer then subscribes again: kafkajs matches
   * a pattern only when it subscribes); for every projection, events in a
   * partition that was empty when the consumer subscribed and has given no
   * batch yet (so freshness says the tenant is loading, not fresh, until
   * they are applied). @default 5000
   */
  readonly topicRefreshMs?: number;
  /** Called when the consumer subscribed again to take in topics that appeared. */
  readonly onTopicsAdded?: (topics: readonly string[]) => void;
  /**
   * Replication origins (by name prefix) whose changes are not applied: the
   * changes the toolkit's own back-sync wrote into the source, which would
   * otherwise come back as an echo. Their positions are checkpointed like
   * any other. @default none
   */
  readonly skipOrigins?: readonly string[];
  /** Called with the changes left out by skipOrigins, after the transaction that checkpointed past them. */
  readonly onSkippedOrigin?: (events: readonly ChangeEvent[]) => void;
  /**
   * Which of a tenant's changes fall on tables its service owns, read inside
   * each transaction that applies the tenant's changes (so a hand-over that
   * changes ownership waits for it, or is seen by it): a predicate, or null
   * when the service owns nothing of the tenant. A change it accepts that
   * back-sync did not write (skipOrigins) is the monolith writing outside
   * the domain's routes, a conflict: not applied (the service holds the
   * truth), checkpointed past, told to `onConflict` (in the transaction, to
   * record it, and after it). The messaging service accepts the domain's
   * tables' changes made after the monolith's WAL position of the hand-over
   * (earlier ones are the monolith's own, from while it owned them).
   * @default nothing is owned
   */
  readonly ownership?: (trx: Knex.Transaction, tenant: string) => Promise<((e: ChangeEvent) => boolean) | null>;
  /** Records conflicts in the applying transaction (they are then kept exactly once, with the checkpoint). */
  readonly recordConflicts?: (trx: Knex.Transaction, events: readonly ChangeEvent[]) => Promise<void>;
  readonly onConflict?: (events: readonly ChangeEvent[]) => void;
}

/**
 * Replication origins back-sync writes into monolith databases under start
 * with this (`strangler_backsync_<tenant>`): a forward projector given it in
 * skipOrigins never applies back-sync's own writes again (no echo).
 */
export const BACKSYNC_ORIGIN_PREFIX = 'strangler_backsync';

/** Lag of one topic partition as last seen. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly tenant: string;
  /** Messages between what was applied and the partition's end. */
  readonly consumerLag: number;
  /** Source commit time to applied time of the newest event applied, ms. */
  readonly endToEndMs: number | null;
  /** Source commit time of the newest event applied (ms since the epoch), or null before the first. */
  readonly sourceTs: number | null;
  /**
   * The source's WAL position (Debezium's `source.lsn`) of the newest
   * streamed event this partition has been through (applied, or passed over
   * as an echo or a conflict), or null before the first: freshnessReport's
   * `appliedLsn` is folded from it.
   */
  readonly sourceLsn: bigint | null;
  /**
   * Debezium's `source.snapshot` of the newest event applied (`first`,
   * `true`, `last_in_data_collection`, `last`, `false`...), or null before
   * the first: freshnessReport tells from it a tenant whose initial snapshot
   * is still being applied.
   */
  readonly snapshot: string | null;
  readonly applied: number;
  readonly deadLettered: number;
  /**
   * How old the oldest event fetched and not yet applied is (its Kafka
   * timestamp to now), ms; 0 when everything fetched is applied. What the
   * service's state lacks is at most this old: the proxy's freshness check
   * (reads to the monolith while a service is behind) reads it. Events the
   * source has not yet published (a stalled capture) are not seen here: the
   * heartbeat topic's sourceTs is, by freshnessReport.
   */
  readonly behindMs: number;
}

/** A partition's lag as the runtime keeps it: PartitionLag's counters, and what behindMs is computed from. */
type LagState = { -readonly [K in Exclude<keyof PartitionLag, 'behindMs'>]: PartitionLag[K] } & {
  /** The highest high watermark seen on the partition. */
  highWatermark: bigint;
  /** The Kafka timestamp of the oldest event fetched and not applied (approached from below: never younger than it), or null. */
  pendingSince: number | null;
  /** The offset of the next event to apply, once known (a checkpoint, the partition's start, a first batch). */
  next: bigint | null;
  /** When a batch last told of the partition (ms since the epoch; 0: none yet, known from a look). */
  heardAt: number;
};

/**
 * Runs one projection: consumes its topics, applies each topic partition's
 * events in transactions that also store the checkpoint, skips what the
 * checkpoint says is already applied (a Kafka redelivery by offset, a
 * Debezium re-emission by stream position), commits Kafka offsets only after
 * the database committed, and sends events that keep failing to
 * `<topic>.dlq` so the stream goes on.
 */
export class Projector {
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private readonly lag = new Map<string, LagState>();
  private stopped = false;
  private crashes = 0;
  private recovering: Promise<void> | null = null;
  /** Ends the recovery's back-off wait at once (stop()). */
  private wake: (() => void) | null = null;
  /** Per topic partition: the chain of chunk applies, in order. */
  private readonly lanes = new Map<string, Lane>();
  /** The topics the consumer subscribed to, for a pattern (kafkajs resolves it once, when subscribing). */
  private subscribed = new Set<string>();
  private topicWatch: NodeJS.Timeout | null = null;
  /** The watch's connection, kept between looks (one metadata request every few seconds, not a new connection). */
  private watchAdmin: Admin | null = null;
  /** Partitions per topic, as last asked (learnPartitions asks again about a topic while one of them is unknown, or stale). */
  private readonly partitionCounts = new Map<string, number>();

  constructor(
    private readonly projection: Projection,
    private readonly options: ProjectorOptions,
  ) {}

  get groupId(): string {
    return this.options.groupId ?? `strangler-projection-${this.projection.name}`;
  }

  async start(): Promise<void> {
    try {
      await this.startOnce();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async startOnce(): Promise<void> {
    await this.projection.setup?.(this.options.db);
    const topics = this.projection.topics;
    // Debezium creates a table's topic on its first event; a projection may start before that.
    if (!(topics instanceof RegExp)) await this.ensureTopics(topics);
    this.producer = this.options.kafka.producer();
    await this.producer.connect();
    await this.startConsumer();
    this.watch(topics instanceof RegExp ? topics : null);
  }

  /**
   * Each partition of these topics that no batch has told of yet is known
   * from now on, before its first batch (which may take a while, or never
   * come when nothing is new). With a checkpoint: the source time it was
   * left at, what it last applied of a snapshot, and how far it is from the
   * partition's end, so a restarted service reports how old its state is
   * and whether it was loading a snapshot with more of it waiting, not
   * nothing (freshnessReport reads both). Without one, if it holds events:
   * everything in it waiting (it is read from its beginning), so a tenant
   * whose topics were just found, or whose empty table just got its rows,
   * reports them waiting. An empty partition without a checkpoint stays
   * unknown (the next look asks again). A known partition with events
   * waiting that no batch has told of for a look's interval (not fetched
   * yet, or its lane held up so long that kafkajs stopped fetching it) has
   * its end asked again too, so its lag grows with what arrives instead of
   * staying as last seen. One request per topic with a partition unknown
   * or so stale; the checkpoints are read only when an unknown partition
   * holds events, unless given.
   */
  private async learnPartitions(topics: readonly string[], checkpoints?: Awaited<ReturnType<typeof listCheckpoints>>): Promise<void> {
    const known = new Map<string, number>();
    const stale = new Set<string>();
    const quietSince = Date.now() - (this.options.topicRefreshMs ?? 5000);
    for (const l of this.lag.values()) {
      known.set(l.topic, (known.get(l.topic) ?? 0) + 1);
      if (l.consumerLag > 0 && l.heardAt < quietSince) stale.add(l.topic);
    }
    const asked = topics.filter((t) => (known.get(t) ?? 0) < (this.partitionCounts.get(t) ?? 1) || stale.has(t));
    const all = await this.partitionEnds(asked);
    for (const [key, { high }] of all) {
      const l = this.lag.get(key);
      if (l === undefined || high <= l.highWatermark) continue;
      l.highWatermark = high;
      if (l.next !== null) l.consumerLag = Math.max(0, Number(high - l.next));
    }
    // How many partitions each topic has, as the broker just said (a topic it could not say of keeps its count).
    const counts = new Map<string, number>();
    for (const { topic } of all.values()) counts.set(topic, (counts.get(topic) ?? 0) + 1);
    for (const [topic, count] of counts) this.partitionCounts.set(topic, count);
    const ends = [...all.entries()].filter(([key]) => !this.lag.has(key));
    if (checkpoints === undefined) {
      if (!ends.some(([, e]) => e.high > e.low)) return;
      checkpoints = await listCheckpoints(this.options.db, this.projection.name);
    }
    const checkpointed = new Map(checkpoints.map((r) => [`${r.topic}:${r.partition}`, r]));
    for (const [key, { topic, partition, low, high }] of ends) {
      const cp = checkpointed.get(key);
      // A batch may have told of it meanwhile.
      if (this.lag.has(key) || (cp === undefined && high <= low)) continue;
      const next = cp === undefined ? low : BigInt(cp.kafka_offset) + 1n;
      this.lag.set(key, {
        topic,
        partition,
        tenant: cp?.tenant ?? topic.slice(0, topic.indexOf('.')),
        consumerLag: Math.max(0, Number(high - next)),
        endToEndMs: null,
        sourceTs: cp?.source_ts?.getTime() ?? null,
        sourceLsn: cp?.lsn === null || cp?.lsn === undefined ? null : BigInt(cp.lsn),
        snapshot: cp?.snapshot ?? null,
        applied: 0,
        deadLettered: 0,
        highWatermark: high,
        pendingSince: null,
        next,
        heardAt: 0,
      });
    }
  }

  /**
   * Each partition's first offset and end (high watermark) of these topics,
   * on the watch's connection when there is one; what cannot be read is
   * left out (the first batch tells).
   */
  private async partitionEnds(topics: readonly string[]): Promise<Map<string, { topic: string; partition: number; low: bigint; high: bigint }>> {
    const ends = new Map<string, { topic: string; partition: number; low: bigint; high: bigint }>();
    if (topics.length === 0) return ends;
    const own = this.watchAdmin === null ? this.options.kafka.admin() : null;
    const admin = own ?? this.watchAdmin!;
    try {
      await own?.connect();
      for (const topic of topics) {
        // Listed (or made) a moment ago; one deleted since is left to its batches, which will not come.
        const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
        for (const p of offsets) ends.set(`${topic}:${p.partition}`, { topic, partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) });
      }
    } catch {
      // The broker away: no lag known until the first batches.
    } finally {
      await own?.disconnect().catch(() => undefined);
    }
    return ends;
  }

  /**
   * Every topicRefreshMs, on one connection kept between looks: for a
   * pattern, topics that match it and appeared since the consumer
   * subscribed (it subscribes again to take them in); then the partitions
   * of the topics subscribed that no batch has told of yet, or none for a
   * while with events waiting (learnPartitions).
   */
  private watch(pattern: RegExp | null): void {
    const every = this.options.topicRefreshMs ?? 5000;
    const tick = async () => {
      try {
        if (this.stopped || this.recovering) return;
        if (this.watchAdmin === null) {
          const admin = this.options.kafka.admin();
          await admin.connect();
          if (this.stopped) return void (await admin.disconnect().catch(() => {}));
          this.watchAdmin = admin;
        }
        const existing = await this.watchAdmin.listTopics();
        const added = pattern === null ? [] : existing.filter((t) => pattern.test(t) && !this.subscribed.has(t)).sort();
        if (added.length > 0 && !this.stopped && !this.recovering && this.consumer) {
          this.recovering = this.restartConsumer(this.consumer, { added });
          // The restart learns the partitions of what it subscribed to.
          return void (await this.recovering);
        }
        // Not about a topic deleted since (kafkajs would retry asking for it, holding up the next look).
        if (!this.stopped && !this.recovering) await this.learnPartitions(existing.filter((t) => this.subscribed.has(t)));
      } catch (err) {
        // The next look starts from a new connection.
        await this.closeWatchAdmin();
        if (!this.stopped) this.options.onError?.(new CdcError('STR_ERR_CDC_KAFKA_UNREACHABLE', `projection ${this.projection.name}: cannot look for new topics${pattern ? ` matching ${pattern}` : ''} or events in partitions not read yet (${(err as Error).message}); next look in ${every / 1000} s`, { cause: err, retriable: true }));
      } finally {
        if (!this.stopped) this.topicWatch = setTimeout(tick, every).unref();
      }
    };
    this.topicWatch = setTimeout(tick, every).unref();
  }

  private async closeWatchAdmin(): Promise<void> {
    const admin = this.watchAdmin;
    this.watchAdmin = null;
    await admin?.disconnect().catch(() => {});
  }

  /** The consumer half of a start: the group aligned with the checkpoints, then consuming. */
  private async startConsumer(): Promise<void> {
    const topics = this.projection.topics;
    const { names, checkpoints } = await this.alignGroupWithCheckpoints(topics);
    const consumer = this.options.kafka.consumer(this.groupId);
    this.consumer = consumer;
    // kafkajs restarts its consumer after retriable failures, not after the others: it would stop for good, silently.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart && !this.stopped && this.consumer === consumer) this.recovering ??= this.restartConsumer(consumer, { crash: payload.error });
    });
    // Resolved again when subscribing below: the pattern may match a topic made meanwhile, which the next look finds subscribed.
    this.subscribed = new Set(names);
    await this.learnPartitions(names, checkpoints);
    await this.consumer.connect();
    await this.consumer.subscribe(topics instanceof RegExp ? { topic: topics, fromBeginning: true } : { topics: [...topics], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.batch(payload),
    });
    if (this.options.startAtCheckpoints) {
      // The checkpoints read for the group's alignment, before anything was fetched.
      for (const cp of checkpoints) {
        this.consumer.seek({ topic: cp.topic, partition: cp.partition, offset: (BigInt(cp.kafka_offset) + 1n).toString() });
      }
    }
  }

  /**
   * The database, not the group's committed offsets, says where each
   * partition resumes. Offsets are committed only after the database, so
   * the group can only be ahead when the database was restored or replaced;
   * then the group is moved back to the checkpoints (or to the beginning
   * where there is none), before anything is fetched.
   */
  private async alignGroupWithCheckpoints(topics: Projection['topics']): Promise<{ names: string[]; checkpoints: Awaited<ReturnType<typeof listCheckpoints>> }> {
    const rows = await listCheckpoints(this.options.db, this.projection.name).catch((err: unknown) => {
      throw checkpointFailure(this.projection.name, err);
    });
    const at = new Map(rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.kafka_offset) + 1n]));
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const names = topics instanceof RegExp ? (await admin.listTopics()).filter((t) => topics.test(t)) : [...topics];
      const group = (await admin.describeGroups([this.groupId])).groups[0];
      if (group && group.members.length > 0) return { names, checkpoints: rows }; // other replicas run: they hold the same database
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId: this.groupId, topics: names })) {
        const moves = partitions
          .map((p) => ({ partition: p.partition, committed: BigInt(p.offset), resume: at.get(`${topic}:${p.partition}`) ?? 0n }))
          .filter((p) => p.committed > p.resume);
        if (moves.length > 0) await admin.setOffsets({ groupId: this.groupId, topic, partitions: moves.map((m) => ({ partition: m.partition, offset: m.resume.toString() })) });
      }
      return { names, checkpoints: rows };
    } finally {
      await admin.disconnect();
    }
  }

  private async ensureTopics(topics: readonly string[]): Promise<void> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length > 0) await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: -1, replicationFactor: -1 })), waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }

  /** How many times the consumer crashed beyond kafkajs's own restarts and was started again here. */
  get restarts(): number {
    return this.crashes;
  }

  /**
   * Starts the consumer again: after a crash kafkajs will not restart from
   * (reported through onError and counted), or to subscribe to topics that
   * appeared (at once). The chunks in flight finish first, then the group is
   * realigned with the database's checkpoints, so nothing is applied twice;
   * while starting fails it backs off from 1 s to 30 s, reporting each try.
   */
  private async restartConsumer(old: Consumer, why: { crash: Error } | { added: readonly string[] }): Promise<void> {
    if ('crash' in why) {
      this.crashes++;
      this.options.onError?.(new CdcError('STR_ERR_CDC_CONSUMER_CRASHED', `projection ${this.projection.name}: the Kafka consumer stopped (${why.crash.message}); starting it again`, { cause: why.crash, retriable: true }));
    }
    await old.disconnect().catch(() => {});
    await Promise.all([...this.lanes.values()].map((l) => l.tail));
    for (let wait = ('crash' in why) ? 1000 : 0; !this.stopped; wait = Math.min(Math.max(wait * 2, 1000), 30_000)) {
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, wait).unref();
        });
        this.wake = null;
      }
      if (this.stopped) break;
      try {
        await this.startConsumer();
        if ('added' in why) this.options.onTopicsAdded?.(why.added);
        break;
      } catch (err) {
        const next = Math.min(Math.max(wait * 2, 1000), 30_000);
        this.options.onError?.(new CdcError('STR_ERR_CDC_CONSUMER_CRASHED', `projection ${this.projection.name}: the Kafka consumer could not start again (${(err as Error).message}); next try in ${next / 1000} s`, { cause: err, retriable: true }));
        await this.consumer?.disconnect().catch(() => {});
      }
    }
    this.recovering = null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.topicWatch) clearTimeout(this.topicWatch);
    await this.closeWatchAdmin();
    this.wake?.();
    await this.recovering;
    await this.consumer?.disconnect().catch(() => {});
    // A transaction in flight finishes (or gives up, retriable errors no longer retried); queued chunks do not start.
    await Promise.all([...this.lanes.values()].map((l) => l.tail));
    await this.producer?.disconnect().catch(() => {});
  }

  /**
   * Whether the checkpoints reach the end of every partition of the
   * projection's topics (for a projector that got no batch to report on).
   */
  async caughtUpByCheckpoints(): Promise<boolean> {
    const topics = this.projection.topics;
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const names = topics instanceof RegExp ? (await admin.listTopics()).filter((t) => topics.test(t)) : [...topics];
      const at = new Map((await listCheckpoints(this.options.db, this.projection.name)).map((r) => [`${r.topic}:${r.partition}`, BigInt(r.kafka_offset)]));
      for (const topic of names) {
        for (const p of await admin.fetchTopicOffsets(topic)) {
          if (BigInt(p.high) === BigInt(p.low)) continue; // empty (or emptied by retention)
          if ((at.get(`${topic}:${p.partition}`) ?? -1n) + 1n < BigInt(p.high)) return false;
        }
      }
      return names.length > 0;
    } finally {
      await admin.disconnect();
    }
  }

  status(): PartitionLag[] {
    const now = Date.now();
    return [...this.lag.values()].map(({ highWatermark: _hw, next: _next, heardAt: _heard, pendingSince, ...l }) => ({ ...l, behindMs: pendingSince === null ? 0 : Math.max(0, now - pendingSince) }));
  }

  private async batch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const tenant = topic.slice(0, topic.indexOf('.'));
    const key = `${topic}:${partition}`;
    const lag = this.lag.get(key) ?? { topic, partition, tenant, consumerLag: 0, endToEndMs: null, sourceTs: null, sourceLsn: null, snapshot: null, applied: 0, deadLettered: 0, highWatermark: -1n, pendingSince: null, next: null, heardAt: 0 };
    this.lag.set(key, lag);
    lag.heardAt = Date.now();
    if (BigInt(batch.highWatermark) > lag.highWatermark) lag.highWatermark = BigInt(batch.highWatermark);
    if (batch.messages.length > 0) {
      if (lag.pendingSince === null) lag.pendingSince = Number(batch.messages[0]!.timestamp);
      // Waiting from the moment they are fetched, not only once the first of them is applied (a partition's first events mean loading).
      lag.next ??= BigInt(batch.messages[0]!.offset);
      lag.consumerLag = Math.max(0, Number(lag.highWatermark - lag.next));
    }
    const max = this.options.maxBatch ?? 5000;
    const messages = batch.messages;
    const lane = this.laneOf(key);
    if (lane.failedFrom !== null) {
      // An apply failed after kafkajs had moved on: the partition restarts at the failed chunk.
      const first = messages[0]?.offset;
      if (first === undefined || BigInt(first) > BigInt(lane.failedFrom)) {
        this.consumer!.seek({ topic, partition, offset: lane.failedFrom });
        return;
      }
      lane.failedFrom = null;
    }
    // Taken now, before anything is awaited: a chunk of this batch decoded after a failure (of an
    // earlier chunk) carries the old generation and is dropped, never applied past the failed one.
    const generation = lane.generation;
    // Pipelined: each chunk is handed to the partition's lane at once, decoding on the way, and
    // applied in order, one transaction at a time, while kafkajs fetches the next batch (it fetches
    // only once this returns; resolveOffset only moves its fetch position; Kafka is told an offset
    // only after the transaction that covers it committed, and every transaction re-checks the
    // checkpoint, so nothing applies twice). At most MAX_QUEUED chunks wait per partition; when the
    // lane gets to them, the ones waiting go together, up to maxBatch events, in one transaction
    // (see drainLane). A failed chunk drops the chunks queued behind it (generation) and sends the
    // partition back to it.
    for (let i = 0; i < messages.length && isRunning() && !isStale() && !this.stopped && lane.failedFrom === null && generation === lane.generation; i += max) {
      const part = messages.slice(i, i + max);
      lane.waiting.push({ messages: part, decoded: decodeChunk(topic, partition, part), generation });
      const done = lane.tail.then(() => this.drainLane(lane, { topic, partition, tenant }, lag, max));
      lane.queued.push(done);
      lane.tail = done;
      resolveOffset(part[part.length - 1]!.offset);
      while (lane.queued.length > MAX_QUEUED) await lane.queued.shift();
      await heartbeat();
    }
  }

  /**
   * Applies the chunks waiting in a partition's lane: as many as fit in
   * maxBatch events, in one transaction. An idle lane gets a chunk alone, at
   * once; a lane kept busy (a replay, a backlog) gets the chunks fetched
   * meanwhile together, so its transactions grow with the load and each
   * one's fixed cost (checkpoint read and write, commit) is paid less often.
   */
  private async drainLane(lane: Lane, at: { topic: string; partition: number; tenant: string }, lag: LagState, max: number): Promise<void> {
    while (lane.waiting.length > 0 && lane.waiting[0]!.generation !== lane.generation) lane.waiting.shift();
    if (lane.waiting.length === 0 || this.stopped) return;
    const first = lane.waiting.shift()!;
    const take = [first.decoded];
    let events = first.messages.length;
    while (lane.waiting.length > 0 && events + lane.waiting[0]!.messages.length <= max) {
      const next = lane.waiting.shift()!;
      take.push(next.decoded);
      events += next.messages.length;
    }
    const decoded = await Promise.all(take);
    const chunk: DecodedChunk = decoded.length === 1 ? decoded[0]! : { messages: decoded.flatMap((c) => c.messages), decoded: decoded.flatMap((c) => c.decoded) };
    const lastMessage = chunk.messages[chunk.messages.length - 1]!;
    const { topic, partition, tenant } = at;
    try {
      await this.applyChunk(topic, partition, tenant, chunk, lag);
    } catch (err) {
      lane.generation++;
      lane.waiting.length = 0;
      lane.failedFrom = chunk.messages[0]!.offset;
      this.options.onError?.(err);
      if (!this.stopped) this.consumer?.seek({ topic, partition, offset: lane.failedFrom });
      return;
    }
    lag.next = BigInt(lastMessage.offset) + 1n;
    lag.consumerLag = Math.max(0, Number(lag.highWatermark - lag.next));
    // What is still pending came after the last event applied, so it is no older than that event.
    lag.pendingSince = lag.consumerLag === 0 ? null : Number(lastMessage.timestamp);
    // Best effort: the checkpoint is the truth, and a restart aligns the group with it.
    await this.consumer?.commitOffsets([{ topic, partition, offset: (BigInt(lastMessage.offset) + 1n).toString() }]).catch(() => undefined);
  }

  private laneOf(key: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { tail: Promise.resolve(), queued: [], waiting: [], generation: 0, failedFrom: null };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /** Applies one chunk; on a failure that retries do not cure, falls back to one event at a time to find the poison. */
  private async applyChunk(topic: string, partition: number, tenant: string, chunk: DecodedChunk, lag: AppliedLag & { deadLettered: number }): Promise<void> {
    const { messages, decoded } = chunk;
    const retried = new Set(messages.filter((m) => this.retriedForMe(m)).map((m) => m.offset));
    if (decoded.every((d) => !(d.e instanceof Error))) {
      try {
        await this.withRetry(() => this.transact(topic, partition, tenant, decoded.map((d) => d.e as Decoded), messages[messages.length - 1]!.offset, lag, retried), true);
        return;
      } catch (err) {
        if (isRetriable(err)) throw err;
        // Some event in the chunk is poison: find it one by one below.
      }
    }
    for (const d of decoded) {
      if (d.e instanceof Error) {
        await this.deadLetter(topic, partition, d.m, d.e);
        lag.deadLettered++;
        await this.withRetry(() => this.transact(topic, partition, tenant, [], d.m.offset, lag), false);
        continue;
      }
      const event = d.e;
      try {
        await this.withRetry(() => this.transact(topic, partition, tenant, [event], d.m.offset, lag, retried), false);
      } catch (err) {
        if (isRetriable(err)) throw err;
        await this.deadLetter(topic, partition, d.m, err as Error);
        lag.deadLettered++;
        await this.withRetry(() => this.transact(topic, partition, tenant, [], d.m.offset, lag), false);
      }
    }
  }

  /** A dead letter sent back for this projection (a copy for another one is a duplicate here, skipped by its position). */
  private retriedForMe(m: KafkaMessage): boolean {
    if (m.headers?.[RETRY_HEADER] === undefined) return false;
    const owner = m.headers[RETRY_PROJECTION_HEADER];
    return owner === undefined || String(owner) === this.projection.name;
  }

  /** One transaction: read the checkpoint, apply what is new, write the checkpoint. */
  private async transact(
    topic: string,
    partition: number,
    tenant: string,
    events: readonly Decoded[],
    lastOffset: string,
    lag: AppliedLag,
    retried: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    const applied = await this.options.db.transaction(async (trx) => {
      const cp = await readCheckpoint(trx, this.projection.name, topic, partition).catch((err: unknown) => {
        throw checkpointFailure(this.projection.name, err);
      });
      const fresh: ChangeEvent[] = [];
      const echoes: ChangeEvent[] = [];
      const conflicts: ChangeEvent[] = [];
      let position: Checkpoint = cp ?? { offset: -1n, commitLsn: null, lsn: null, atPosition: [] };
      let newest: ChangeEvent | null = null;
      const owned = this.options.ownership ? await this.options.ownership(trx, tenant) : null;
      for (const e of events) {
        if (e.op === 'tombstone') continue;
        if (cp !== null && BigInt(e.offset) <= cp.offset) continue; // Kafka redelivery
        const streamed = !isSnapshot(e) && !retried.has(e.offset);
        if (streamed) {
          const identity = `${e.op}:${JSON.stringify(e.key)}`;
          const cmp = position.commitLsn !== null || position.lsn !== null ? comparePosition(e.source, position) : 1;
          // Debezium re-emits after a restart: same changes, new offsets, old stream positions.
          if (cmp < 0 || (cmp === 0 && position.atPosition.includes(identity))) continue;
          position = { offset: position.offset, commitLsn: e.source.commitLsn, lsn: e.source.lsn, atPosition: cmp === 0 ? [...position.atPosition, identity] : [identity] };
        }
        if (e.source.origin !== null && this.skipsOrigin(e.source.origin)) {
          echoes.push(e);
          continue;
        }
        if (owned !== null && owned(e)) {
          conflicts.push(e);
          continue;
        }
        fresh.push(e);
        newest = e;
      }
      if (fresh.length > 0) await this.projection.apply(fresh, trx);
      if (conflicts.length > 0) await this.options.recordConflicts?.(trx, conflicts);
      // Never backwards: events at or behind the checkpoint (a redelivery, a seek back) were skipped above.
      const offset = cp !== null && cp.offset > BigInt(lastOffset) ? cp.offset : BigInt(lastOffset);
      const source = newest === null ? null : { tsMs: newest.source.tsMs, snapshot: newest.source.snapshot };
      await writeCheckpoint(trx, this.projection.name, topic, partition, tenant, { ...position, offset }, source).catch((err: unknown) => {
        throw checkpointFailure(this.projection.name, err);
      });
      return { fresh, source, echoes, conflicts, lsn: position.lsn };
    });
    if (applied.echoes.length > 0) this.options.onSkippedOrigin?.(applied.echoes);
    if (applied.conflicts.length > 0) this.options.onConflict?.(applied.conflicts);
    // Counted once committed: a rolled-back attempt applied nothing.
    lag.applied += applied.fresh.length;
    if (applied.lsn !== null && (lag.sourceLsn === null || applied.lsn > lag.sourceLsn)) lag.sourceLsn = applied.lsn;
    if (applied.source !== null) {
      lag.endToEndMs = Date.now() - applied.source.tsMs;
      lag.sourceTs = applied.source.tsMs;
      lag.snapshot = applied.source.snapshot;
    }
    if (applied.fresh.length > 0) this.options.onApplied?.(applied.fresh, Date.now());
  }

  private skipsOrigin(origin: string): boolean {
    const skip = this.options.skipOrigins;
    return skip !== undefined && skip.some((prefix) => origin.startsWith(prefix));
  }

  private async withRetry<T>(fn: () => Promise<T>, chunk: boolean): Promise<T> {
    const attempts = this.options.attempts ?? 5;
    let delay = this.options.backoffMs ?? 100;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        // Infrastructure trouble (the database away) is retried for ever: it is not the event's fault.
        if (isRetriable(err)) {
          this.options.onError?.(err);
          await sleep(Math.min(delay, 5_000));
          delay *= 2;
          if (this.stopped) throw err;
          continue;
        }
        if (chunk || attempt >= attempts) throw err;
        await sleep(delay);
        delay *= 2;
      }
    }
  }

  private async deadLetter(topic: string, partition: number, m: KafkaMessage, err: Error): Promise<void> {
    const code = (err as { code?: string }).code ?? err.name;
    await this.producer!.send({
      topic: `${topic}.dlq`,
      messages: [
        {
          key: m.key,
          value: m.value,
          headers: {
            'strangler.error.code': String(code),
            'strangler.error.message': err.message.slice(0, 2000),
            'strangler.projection': this.projection.name,
            'strangler.original.topic': topic,
            'strangler.original.partition': String(partition),
            'strangler.original.offset': m.offset,
            'strangler.failed.at': new Date().toISOString(),
          },
        },
      ],
    });
    this.options.onError?.(new CdcError('STR_ERR_CDC_PROJECTION_FAILED', `${topic}[${partition}]@${m.offset} sent to ${topic}.dlq: ${err.message}`, { cause: err }));
  }
}

/** What a transaction updates in its partition's lag once committed. */
type AppliedLag = { applied: number; endToEndMs: number | null; sourceTs: number | null; sourceLsn: bigint | null; snapshot: string | null };

interface Lane {
  tail: Promise<void>;
  /** One drain per chunk enqueued, in order (a drain finds nothing to do when an earlier one took its chunk). */
  readonly queued: Promise<void>[];
  /** Chunks not yet applied, in offset order, each decoding (or decoded) and with the generation it was fetched in. */
  readonly waiting: Array<{ messages: readonly KafkaMessage[]; decoded: Promise<DecodedChunk>; generation: number }>;
  /** Bumped when a chunk fails: chunks queued before that do not apply. */
  generation: number;
  /** The first offset of the chunk that failed, until the partition is back there. */
  failedFrom: string | null;
}

interface DecodedChunk {
  readonly messages: KafkaMessage[];
  readonly decoded: Array<{ m: KafkaMessage; e: Decoded | Error }>;
}

/** Chunks a partition's lane holds, decoded and not yet applied, before its batch waits. */
const MAX_QUEUED = 3;

const DECODE_SLICE = 500;

/**
 * Decodes a chunk in slices of 500 events, yielding to the event loop between
 * them, so that a transaction in flight is served meanwhile (its next query
 * sent as soon as PostgreSQL answers the last).
 */
async function decodeChunk(topic: string, partition: number, messages: KafkaMessage[]): Promise<DecodedChunk> {
  const decoded: Array<{ m: KafkaMessage; e: Decoded | Error }> = [];
  for (let i = 0; i < messages.length; i++) {
    if (i > 0 && i % DECODE_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const m = messages[i]!;
    try {
      decoded.push({ m, e: decode({ topic, partition, offset: m.offset, key: m.key, value: m.value }) });
    } catch (err) {
      decoded.push({ m, e: err as Error });
    }
  }
  return { messages, decoded };
}

/** The runtime's own bookkeeping failed: never the event's fault, so never a dead letter; retried until fixed. */
function checkpointFailure(projection: string, err: unknown): CdcError {
  return new CdcError('STR_ERR_CDC_CHECKPOINT_FAILED', `checkpoint of ${projection}: ${(err as Error).message} (is the database migrated with the "extracted" set?)`, { cause: err, retriable: true });
}

const RETRIABLE_PG = /^(08|53|57P0|40001|40P01)/; // connection, resources, shutdown, serialization, deadlock

/** Retriable: flagged so (StranglerError), or a database error class that a retry can cure. */
export function isRetriable(err: unknown): boolean {
  if (err && typeof err === 'object') {
    const e = err as { retriable?: boolean; code?: string };
    if (typeof e.retriable === 'boolean') return e.retriable;
    if (typeof e.code === 'string' && RETRIABLE_PG.test(e.code)) return true;
    if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'ETIMEDOUT') return true;
  }
  return false;
}
