import { decode, type ChangeEvent, type KafkaClients } from '@strangler/cdc';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { backSyncTopic } from './connector';
import { BackSyncError } from './errors';
import { BACKSYNC_ORIGIN_PREFIX, MonolithWriter, type Owner, type OwnershipState } from './monolith-writer';
import { OWNERSHIP_TABLE } from './connector';

export interface BackSyncOptions {
  /** The extracted service whose owned tables are carried back. */
  readonly service: string;
  readonly kafka: KafkaClients;
  /** Each tenant's monolith database. */
  readonly monoliths: Readonly<Record<string, string>>;
  /**
   * The domain whose tables these are (the service's domain_owners rows of
   * it say, in the service's own commit order, which tenants it owns: see
   * below).
   */
  readonly domain: string;
  /** The column of the service's tables that names the tenant. @default 'tenant' */
  readonly tenantColumn?: string;
  /** @default 'strangler-backsync-<service>' */
  readonly groupId?: string;
  /** Replication origins back-sync writes under (per tenant: `<prefix>_<tenant>`). @default BACKSYNC_ORIGIN_PREFIX */
  readonly originPrefix?: string;
  /** Told of each service transaction applied for a tenant: its events, and the service's commit time. */
  readonly onApplied?: (tenant: string, events: readonly ChangeEvent[], committedAtMs: number) => void;
  /** Told of changes not carried back (a tenant the service does not own, an unknown tenant). */
  readonly onSkipped?: (tenant: string, events: readonly ChangeEvent[], why: 'not_owned' | 'unknown_tenant') => void;
  /** Told of each change of ownership applied: the owner and epoch now in force for the tenant (applied in its monolith database). */
  readonly onOwnership?: (tenant: string, owner: Owner, epoch: number) => void;
  readonly onError?: (err: unknown) => void;
}

/**
 * The back-sync applier: reads the service's owned-table changes from their
 * one topic, in the service's commit order, and writes each transaction's
 * changes of a tenant into that tenant's monolith database as one
 * transaction, under back-sync's replication origin, exactly once (the
 * origin's progress is moved in the same transaction; events at or before
 * it are skipped after a restart or a redelivery). The only toolkit
 * component that writes into legacy tables.
 *
 * Which tenants' changes it carries is read from the same stream: the
 * service's `strangler.domain_owners` rows are captured with the owned
 * tables, so a change is carried exactly when the service owned its tenant
 * at that point of the service's commit order (a write of the service
 * commits only while its row says so; the forward projector's writes, made
 * while the monolith owns the tenant, are passed over for good). Each
 * change of ownership is applied into the monolith's
 * `strangler.backsync_state`, with the origin's progress: where back-sync
 * resumes, it knows who owned the tenant there, and a hand-over back to the
 * monolith waits for the epoch it revoked at to show there.
 */
export class BackSyncApplier {
  private consumer: Consumer | null = null;
  private readonly writers = new Map<string, Promise<MonolithWriter>>();
  private readonly done = new Map<string, bigint>();
  /** Who owns each tenant's domain at the point applied (read from the monolith's backsync_state, then followed in the stream). */
  private readonly owners = new Map<string, OwnershipState>();
  private stopped = false;

  constructor(private readonly o: BackSyncOptions) {}

  get topic(): string {
    return backSyncTopic(this.o.service);
  }

  async start(): Promise<void> {
    await this.ensureTopic();
    const consumer = this.o.kafka.consumer(this.o.groupId ?? `strangler-backsync-${this.o.service}`);
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (b) => this.batch(b) });
  }

  /**
   * The topic exists before the connector's first event (it takes no
   * snapshot), with one partition: the service's commit order across tables
   * is that partition's order.
   */
  private async ensureTopic(): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }] });
      const meta = await admin.fetchTopicMetadata({ topics: [this.topic] });
      const partitions = meta.topics[0]?.partitions.length ?? 0;
      if (partitions !== 1) {
        throw new BackSyncError('STR_ERR_BACKSYNC_CONFIG', `topic ${this.topic} has ${partitions} partitions: back-sync needs exactly one (the service's commit order across tables). Delete it and let back-sync create it`, { context: { topic: this.topic, partitions } });
      }
    } finally {
      await admin.disconnect();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer?.disconnect().catch(() => {});
    for (const w of this.writers.values()) await w.then((x) => x.close()).catch(() => {});
    this.writers.clear();
  }

  private async batch({ batch, resolveOffset, commitOffsetsIfNecessary, uncommittedOffsets, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const tenantColumn = this.o.tenantColumn ?? 'tenant';
    // Consecutive events of one source transaction (one partition: they are contiguous, in commit order).
    let group: Array<{ e: ChangeEvent; offset: bigint }> = [];
    const flush = async () => {
      if (group.length === 0) return;
      const byTenant = new Map<string, Array<{ e: ChangeEvent; offset: bigint }>>();
      for (const x of group) {
        const row = x.e.after ?? x.e.before ?? x.e.key;
        const tenant = String(row[tenantColumn] ?? '');
        const list = byTenant.get(tenant) ?? [];
        list.push(x);
        byTenant.set(tenant, list);
      }
      for (const [tenant, list] of byTenant) await this.applyFor(tenant, list, tenantColumn);
      resolveOffset(group[group.length - 1]!.offset.toString());
      group = [];
      await heartbeat();
    };
    for (const m of batch.messages) {
      if (!isRunning() || isStale() || this.stopped) break;
      if (m.value === null) {
        await flush();
        resolveOffset(m.offset);
        continue;
      }
      const d = decode({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value });
      if (d.op === 'tombstone') continue;
      if (group.length > 0 && group[0]!.e.source.txId !== d.source.txId) await flush();
      group.push({ e: d, offset: BigInt(m.offset) });
    }
    if (isRunning() && !isStale() && !this.stopped) await flush();
    // The group's offsets follow what was applied (progress itself is the replication origin's): with autoCommit off,
    // commitOffsetsIfNecessary() alone commits nothing, and the group's lag (the back-sync alert reads it) would only grow.
    await commitOffsetsIfNecessary(uncommittedOffsets());
  }

  private async applyFor(tenant: string, list: Array<{ e: ChangeEvent; offset: bigint }>, tenantColumn: string): Promise<void> {
    const events = list.map((x) => x.e);
    if (!(tenant in this.o.monoliths)) return this.o.onSkipped?.(tenant, events, 'unknown_tenant');
    const upTo = list[list.length - 1]!.offset + 1n;
    for (let attempt = 1; ; attempt++) {
      try {
        const w = await this.writer(tenant);
        const applied = this.done.get(tenant) ?? (await w.applied());
        let state = this.owners.get(tenant) ?? (await w.ownership(this.o.domain));
        const before = state;
        // Kafka redelivers by offset: the origin's progress skips what was applied. (Debezium's re-emission after a Connect
        // restart comes under new offsets and is applied again: upserts of the same rows, in order, ending where they were.
        // Its stream position is no filter: Debezium's sequence is not in commit order across concurrent transactions, and
        // filtering by it dropped the later-committed of two; see README, "Not yet".)
        const fresh = list.filter((x) => x.offset + 1n > applied);
        // Walked in commit order: a change is carried when the service owned the tenant at its point of the stream.
        const carried: ChangeEvent[] = [];
        const passed: ChangeEvent[] = [];
        let changed: OwnershipState | null = null;
        let serviceTime: string | null = null;
        for (const { e } of fresh) {
          if (`${e.source.schema}.${e.source.table}` === OWNERSHIP_TABLE) {
            const row = e.after;
            if (row === null || String(row.domain) !== this.o.domain) continue;
            state = changed = { owner: row.owner === 'service' ? 'service' : 'monolith', epoch: Number(row.epoch) };
            // Debezium's ZonedTimestamp (an ISO string): where a probe is known applied (ownership's backSyncRound).
            serviceTime = typeof row.updated_at === 'string' ? row.updated_at : null;
            continue;
          }
          (state.owner === 'service' ? carried : passed).push(e);
        }
        if (carried.length > 0 || changed !== null) await w.apply(carried, upTo, tenantColumn, changed === null ? null : { domain: this.o.domain, ...changed, serviceTime });
        else if (upTo > applied) await w.skip(upTo); // made while the monolith owned the tenant: passed over for good
        this.done.set(tenant, upTo > applied ? upTo : applied);
        this.owners.set(tenant, state);
        // A probe (the row written again as it is) is applied like any change of ownership, and said only when something changed.
        if (changed !== null && (changed.owner !== before.owner || changed.epoch !== before.epoch)) this.o.onOwnership?.(tenant, changed.owner, changed.epoch);
        if (passed.length > 0) this.o.onSkipped?.(tenant, passed, 'not_owned');
        if (carried.length > 0) this.o.onApplied?.(tenant, carried, carried[0]!.source.tsMs);
        return;
      } catch (err) {
        this.o.onError?.(err);
        // The connection may be gone: a new session (and origin setup) on the next attempt, progress and ownership read again.
        const w = this.writers.get(tenant);
        this.writers.delete(tenant);
        this.done.delete(tenant);
        this.owners.delete(tenant);
        await w?.then((x) => x.close()).catch(() => {});
        const permanent = err instanceof BackSyncError && !err.retriable && err.code !== 'STR_ERR_BACKSYNC_APPLY';
        if (this.stopped || permanent || attempt >= 1_000) throw err;
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  private writer(tenant: string): Promise<MonolithWriter> {
    let w = this.writers.get(tenant);
    if (!w) {
      w = MonolithWriter.open(tenant, this.o.monoliths[tenant]!, this.o.originPrefix ?? BACKSYNC_ORIGIN_PREFIX);
      w.catch(() => this.writers.delete(tenant));
      this.writers.set(tenant, w);
    }
    return w;
  }
}
