import type { ContractColumn, Shape } from './contract';
import { widens } from './json-schema';

/** A consumer and what it reads of each stream: named columns, or every column ('*': a mirror). */
export interface Consumer {
  readonly name: string;
  /** Who runs it: a service, a team. */
  readonly owner: string;
  readonly kind: 'mirror' | 'projection' | 'service';
  readonly reads: Readonly<Record<string, readonly string[] | '*'>>;
  /** Domain events it reads, as `<event>@<version>` (contracts/events). */
  readonly events?: readonly string[];
  /** How fresh it promises to be (the catalog compares its lag with it). */
  readonly freshnessMs?: number;
  /** Its Kafka consumer group, for its lag. */
  readonly group?: string;
}

export type ChangeKind = 'stream-added' | 'stream-dropped' | 'key-changed' | 'column-added' | 'column-added-required' | 'column-dropped' | 'column-renamed' | 'column-retyped' | 'column-widened' | 'column-nullable' | 'column-not-null';

export interface Change {
  readonly kind: ChangeKind;
  readonly stream: string;
  readonly column?: string;
  readonly detail: string;
  readonly breaking: boolean;
  /** The consumers it breaks (every consumer of the stream for a key change or a dropped stream). */
  readonly breaks: readonly string[];
  /** How to make the same change without breaking anyone: expand, migrate, contract. */
  readonly advice?: string;
}

const reads = (c: Consumer, stream: string, column: string | null): boolean => {
  const r = c.reads[stream];
  if (r === undefined) return false;
  return column === null || r === '*' || r.includes(column);
};

/**
 * What changed from the recorded shape of each stream to the new one, each
 * change judged against the consumers that read it: compatible (a nullable
 * column added, a type widened, a NOT NULL added) or breaking for the
 * consumers named (a column they read dropped, renamed, retyped narrower or
 * into another representation, made nullable; the key changed; the stream
 * dropped; a NOT NULL column added without a default).
 */
export function compareShapes(recorded: ReadonlyMap<string, Shape>, current: ReadonlyMap<string, Shape>, consumers: readonly Consumer[]): Change[] {
  const out: Change[] = [];
  for (const [stream, old] of recorded) {
    const users = consumers.filter((c) => reads(c, stream, null)).map((c) => c.name);
    const now = current.get(stream);
    if (!now) {
      out.push({ kind: 'stream-dropped', stream, detail: `table ${stream} is gone`, breaking: users.length > 0, breaks: users, advice: `keep ${stream} (or a view of it that capture follows) until ${users.join(', ') || 'its consumers'} no longer read it, then drop it` });
      continue;
    }
    out.push(...compareStream(old, now, consumers));
  }
  for (const stream of current.keys()) {
    if (!recorded.has(stream)) out.push({ kind: 'stream-added', stream, detail: `table ${stream} is new: record its contract with \`strangler contracts snapshot\``, breaking: false, breaks: [] });
  }
  return out;
}

function compareStream(old: Shape, now: Shape, consumers: readonly Consumer[]): Change[] {
  const stream = old.stream;
  const out: Change[] = [];
  const readers = (column: string) => consumers.filter((c) => reads(c, stream, column)).map((c) => c.name);
  const all = consumers.filter((c) => reads(c, stream, null)).map((c) => c.name);
  if (old.key.join(',') !== now.key.join(',')) {
    out.push({
      kind: 'key-changed',
      stream,
      detail: `the key changed from (${old.key.join(', ')}) to (${now.key.join(', ')}): every event's Kafka key, its partition and what compaction keeps change with it`,
      breaking: true,
      breaks: all,
      advice: `a new key is a new stream: create the table with its new key beside the old one, write both, move ${all.join(', ') || 'the consumers'} to it, then drop the old one`,
    });
  }
  const before = new Map(old.columns.map((c) => [c.name, c]));
  const after = new Map(now.columns.map((c) => [c.name, c]));
  const dropped = old.columns.filter((c) => !after.has(c.name));
  const added = now.columns.filter((c) => !before.has(c.name));
  // A column dropped and one added of the same type in the same change: most likely a rename.
  const renamed = new Map<string, ContractColumn>();
  for (const d of dropped) {
    const twin = added.find((a) => a.type === d.type && ![...renamed.values()].includes(a));
    if (twin && dropped.filter((x) => x.type === d.type).length === 1 && added.filter((x) => x.type === d.type).length === 1) renamed.set(d.name, twin);
  }
  for (const d of dropped) {
    const to = renamed.get(d.name);
    const breaks = readers(d.name);
    if (to) {
      out.push({
        kind: 'column-renamed',
        stream,
        column: d.name,
        detail: `column ${d.name} seems renamed to ${to.name} (${d.type})`,
        breaking: breaks.length > 0,
        breaks,
        advice: `expand: add ${to.name} beside ${d.name} and write both (the app, or a trigger); migrate: move ${breaks.join(', ') || 'the consumers'} to ${to.name}; contract: drop ${d.name} once none reads it`,
      });
    } else {
      out.push({ kind: 'column-dropped', stream, column: d.name, detail: `column ${d.name} (${d.type}) is dropped`, breaking: breaks.length > 0, breaks, advice: `contract last: release ${breaks.join(', ') || 'its consumers'} without ${d.name} first, then drop it in a later migration` });
    }
  }
  for (const a of added) {
    if ([...renamed.values()].includes(a)) continue;
    if (!a.nullable && !a.hasDefault) {
      out.push({
        kind: 'column-added-required',
        stream,
        column: a.name,
        detail: `column ${a.name} (${a.type}) is added NOT NULL without a default: writers that do not set it fail, and a copy's existing rows cannot hold it`,
        breaking: true,
        breaks: all,
        advice: `expand: add ${a.name} nullable (or with a default); migrate: backfill it and have every writer set it; contract: SET NOT NULL in a later migration`,
      });
    } else {
      out.push({ kind: 'column-added', stream, column: a.name, detail: `column ${a.name} (${a.type}) is added${a.nullable ? ', nullable' : ', with a default'}`, breaking: false, breaks: [] });
    }
  }
  for (const [name, o] of before) {
    const n = after.get(name);
    if (!n) continue;
    if (o.type !== n.type) {
      const ok = widens(o.type, n.type);
      const breaks = ok ? [] : readers(name);
      out.push(
        ok
          ? { kind: 'column-widened', stream, column: name, detail: `column ${name} widened from ${o.type} to ${n.type}: every old value still reads the same`, breaking: false, breaks: [] }
          : {
              kind: 'column-retyped',
              stream,
              column: name,
              detail: `column ${name} retyped from ${o.type} to ${n.type}: narrower or another representation in the events`,
              breaking: breaks.length > 0,
              breaks,
              advice: `expand: add a column of type ${n.type} beside ${name} and fill it; migrate ${breaks.join(', ') || 'the consumers'} to it; contract: drop ${name}`,
            },
      );
    }
    if (!o.nullable && n.nullable) {
      const breaks = readers(name);
      out.push({ kind: 'column-nullable', stream, column: name, detail: `column ${name} may now be null`, breaking: breaks.length > 0, breaks, advice: `keep ${name} NOT NULL until ${breaks.join(', ') || 'its consumers'} accept a null there` });
    }
    if (o.nullable && !n.nullable) out.push({ kind: 'column-not-null', stream, column: name, detail: `column ${name} is now NOT NULL`, breaking: false, breaks: [] });
  }
  return out;
}

/** The check's report as text: breaking changes first, each with whom it breaks and how to evolve safely. */
export function formatChanges(changes: readonly Change[]): string {
  if (changes.length === 0) return 'no change to any stream contract';
  const breaking = changes.filter((c) => c.breaking);
  const lines = [
    ...breaking.map((c) => `BREAKING ${c.stream}${c.column ? `.${c.column}` : ''}: ${c.detail}\n  breaks: ${c.breaks.join(', ') || '(no declared consumer yet)'}\n  evolve safely: ${c.advice ?? '-'}`),
    ...changes.filter((c) => !c.breaking).map((c) => `compatible ${c.stream}${c.column ? `.${c.column}` : ''}: ${c.detail}${c.breaks.length === 0 && c.advice && c.kind !== 'stream-added' ? ` (no consumer reads it; ${c.advice})` : ''}`),
  ];
  return lines.join('\n');
}
