import type { Admin } from 'kafkajs';
import type { Consumer } from './compare';
import { readConsumers, readContracts, readEventContracts } from './files';

/** One consumer of a stream, with its lag now (messages past its group's committed offsets on the stream's topics). */
export interface CatalogConsumer {
  readonly name: string;
  readonly owner: string;
  readonly group: string | null;
  readonly freshnessMs: number | null;
  /** Null when it declares no group, or Kafka did not answer. */
  readonly lag: number | null;
  /** Whether it is caught up (no message waiting): what its freshness objective asks at rest. */
  readonly caughtUp: boolean | null;
}

export interface CatalogEntry {
  readonly stream: string;
  readonly kind: 'table changes' | 'domain event';
  readonly owner: string | null;
  readonly version: number;
  readonly producer: string;
  /** The topics it is on now (one per tenant for a table's changes). */
  readonly topics: readonly string[];
  /** The shortest retention among its topics (ms; -1 keeps for ever); null when unknown. */
  readonly retentionMs: number | null;
  readonly consumers: readonly CatalogConsumer[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Every stream of the repository's contracts: each captured table's changes
 * (one topic per tenant) and each domain event, with the domain that owns
 * it, its contract version, its producer, its consumers (contracts/consumers)
 * and, with a Kafka admin, the topics it is on, their retention and each
 * consumer's lag now.
 */
export async function buildCatalog(dir: string, admin: Admin | null): Promise<CatalogEntry[]> {
  const consumers = readConsumers(dir);
  const topics = admin ? await admin.listTopics() : [];
  const entries: Array<Omit<CatalogEntry, 'retentionMs' | 'consumers'> & { readers: Consumer[] }> = [
    ...[...readContracts(dir).values()].map((c) => ({
      stream: c.stream,
      kind: 'table changes' as const,
      owner: c.owner,
      version: c.version,
      producer: c.producer,
      topics: topics.filter((t) => new RegExp(`^[a-z][a-z0-9_]*\\.${escape(c.stream)}$`).test(t)).sort(),
      readers: consumers.filter((x) => x.reads[c.stream] !== undefined),
    })),
    ...readEventContracts(dir).map((e) => ({
      stream: `${e.event}@${e.version}`,
      kind: 'domain event' as const,
      owner: e.owner,
      version: e.version,
      producer: e.producer,
      topics: topics.filter((t) => t === e.topic),
      readers: consumers.filter((x) => (x.events ?? []).includes(`${e.event}@${e.version}`)),
    })),
  ];
  const ends = new Map<string, number>();
  const end = async (topic: string) => {
    if (!ends.has(topic)) ends.set(topic, (await admin!.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0));
    return ends.get(topic)!;
  };
  const out: CatalogEntry[] = [];
  for (const e of entries) {
    let retentionMs: number | null = null;
    if (admin && e.topics.length > 0) {
      const described = await admin.describeConfigs({ resources: e.topics.map((name) => ({ type: 2, name, configNames: ['retention.ms'] })), includeSynonyms: false }).catch(() => null);
      const values = described?.resources.map((r) => Number(r.configEntries.find((c) => c.configName === 'retention.ms')?.configValue)).filter((v) => Number.isFinite(v)) ?? [];
      if (values.length > 0) retentionMs = values.some((v) => v < 0) && values.every((v) => v < 0) ? -1 : Math.min(...values.filter((v) => v >= 0));
    }
    const readers: CatalogConsumer[] = [];
    for (const c of e.readers) {
      let lag: number | null = null;
      if (admin && c.group && e.topics.length > 0) {
        try {
          const committed = await admin.fetchOffsets({ groupId: c.group, topics: [...e.topics] });
          let total = 0;
          for (const t of committed) {
            const done = t.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
            total += Math.max(0, (await end(t.topic)) - done);
          }
          lag = total;
        } catch {
          lag = null;
        }
      }
      readers.push({ name: c.name, owner: c.owner, group: c.group ?? null, freshnessMs: c.freshnessMs ?? null, lag, caughtUp: lag === null ? null : lag === 0 });
    }
    const { readers: _r, ...rest } = e;
    out.push({ ...rest, retentionMs, consumers: readers });
  }
  return out;
}

/** The catalog as text, a block per stream. */
export function formatCatalog(entries: readonly CatalogEntry[]): string {
  const retention = (ms: number | null) => (ms === null ? 'unknown' : ms < 0 ? 'kept for ever' : `${(ms / 86_400_000).toFixed(ms % 86_400_000 === 0 ? 0 : 1)} days`);
  return entries
    .map((e) =>
      [
        `${e.stream} (${e.kind}, v${e.version}) owned by ${e.owner ?? '(no domain)'}, produced by ${e.producer}`,
        `  topics: ${e.topics.length ? e.topics.join(', ') : '(none yet)'}; retention ${retention(e.retentionMs)}`,
        ...(e.consumers.length === 0
          ? ['  consumers: none declared']
          : e.consumers.map((c) => `  consumer ${c.name} (${c.owner}${c.group ? `, group ${c.group}` : ''}): ${c.lag === null ? 'lag unknown' : c.lag === 0 ? 'caught up' : `${c.lag} message(s) behind`}${c.freshnessMs ? `; objective: fresh within ${c.freshnessMs} ms` : ''}`)),
      ].join('\n'),
    )
    .join('\n');
}
