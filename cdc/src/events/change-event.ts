import { CdcError } from '../errors';

/** Debezium's operations: create, update, delete, read (snapshot), truncate. */
export type Op = 'c' | 'u' | 'd' | 'r' | 't';

/**
 * Stands for a value Debezium could not send (an unchanged TOASTed column):
 * a projection must keep what it has, never write this over a real value.
 */
export const UNAVAILABLE: unique symbol = Symbol.for('strangler.cdc.unavailable');
export type Unavailable = typeof UNAVAILABLE;
export const DEBEZIUM_UNAVAILABLE = '__debezium_unavailable_value';

export type Row = Record<string, unknown>;

/** Where a decoded row keeps its JSON columns' text (not enumerable: not a column). */
const JSON_TEXTS: unique symbol = Symbol('strangler.cdc.jsonTexts');

/**
 * A json or jsonb column's text exactly as the source sent it. The decoded
 * value (JSON.parse's) is a JavaScript value: a number in it has a double's
 * precision (jsonb keeps 1.10, 1e-400 and 20-digit integers exactly), JSON
 * null reads as null, and json's own text (spacing, key order, duplicate
 * keys) is gone. A copy that must equal the source writes this text.
 */
export function jsonText(row: Row, column: string): string | undefined {
  return (row as { [JSON_TEXTS]?: Record<string, string> })[JSON_TEXTS]?.[column];
}

/** Sets `to[column]` from `from`, with its JSON text when it has one. */
export function copyColumn(to: Row, from: Row, column: string): void {
  to[column] = from[column];
  const text = jsonText(from, column);
  const texts = (to as { [JSON_TEXTS]?: Record<string, string> })[JSON_TEXTS];
  if (text === undefined) {
    if (texts) delete texts[column];
    return;
  }
  if (texts) texts[column] = text;
  else Object.defineProperty(to, JSON_TEXTS, { value: { [column]: text } });
}

/** A shallow copy of a decoded row, its JSON columns' text included. */
export function copyRow(row: Row): Row {
  const copy = { ...row };
  const texts = (row as { [JSON_TEXTS]?: Record<string, string> })[JSON_TEXTS];
  if (texts) Object.defineProperty(copy, JSON_TEXTS, { value: { ...texts } });
  return copy;
}

/** Where in the source's WAL an event comes from. */
export interface SourcePosition {
  /** LSN of this change. */
  readonly lsn: bigint | null;
  /** LSN of the last commit before this change's transaction: with lsn, a total order of the stream. */
  readonly commitLsn: bigint | null;
  readonly txId: number | null;
  /** Commit time in the source database, ms since epoch. */
  readonly tsMs: number;
  /** "false", "true", "first", "last", "incremental", ... as Debezium sends it. */
  readonly snapshot: string;
  readonly db: string;
  readonly schema: string;
  readonly table: string;
  /**
   * The replication origin the writing session had set (PostgreSQL's
   * pg_replication_origin_session_setup; Debezium's source.origin), null for
   * an ordinary write: how a change that the toolkit itself wrote is told
   * from one the database's own users made (back-sync never loops).
   */
  readonly origin: string | null;
}

export interface ChangeEvent<T extends Row = Row> {
  readonly op: Op;
  readonly before: T | null;
  readonly after: T | null;
  /** The row's key as Debezium keys the topic (the primary key columns). */
  readonly key: Row;
  readonly source: SourcePosition;
  /** The tenant: the topic's first segment (`<tenant>.<schema>.<table>`). */
  readonly tenant: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** A delete's tombstone (null value): carries only the key; projections usually skip it. */
export interface Tombstone {
  readonly op: 'tombstone';
  readonly key: Row;
  readonly tenant: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export type Decoded = ChangeEvent | Tombstone;

export interface RawMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

interface FieldSchema {
  readonly field: string;
  readonly type: string;
  readonly name?: string;
  readonly fields?: FieldSchema[];
  readonly items?: FieldSchema;
}

/** What a row schema says how to decode: the converters, and which fields are 64-bit integers. */
interface RowDecoder {
  readonly decodeRow: (row: Row) => Row;
  /** Fields typed int64, or arrays of int64: a value beyond 2^53 needs its digits from the text (see exactIntegers). */
  readonly int64: readonly string[];
}

/** Row decoders cached by the schema's JSON text (it rarely changes). */
const decoderCache = new Map<string, RowDecoder>();

/**
 * Decodes one Kafka message written by Debezium's JSON converter (schemas
 * enabled) into a typed change event. Values keep their exactness: decimals
 * stay strings, timestamps stay ISO strings with their precision, JSON is
 * parsed, bytes become Buffers, a 64-bit integer beyond what a JavaScript
 * number holds exactly (above 2^53 - 1 or below its negative: a snowflake
 * id, an int8 counter) becomes its decimal string, and an unchanged TOASTed
 * value becomes UNAVAILABLE. Throws STR_ERR_CDC_EVENT_MALFORMED (not
 * retriable) otherwise.
 */
export function decode(m: RawMessage): Decoded {
  const tenant = m.topic.slice(0, m.topic.indexOf('.'));
  let key: Row = {};
  try {
    if (m.key) key = keyOf(m.key);
  } catch (err) {
    throw malformed(m, 'key is not JSON', err);
  }
  if (m.value === null || m.value.length === 0) return { op: 'tombstone', key, tenant, topic: m.topic, partition: m.partition, offset: m.offset };
  let envelope: Envelope;
  try {
    envelope = parseEnvelope(m.value);
  } catch (err) {
    throw malformed(m, 'value is not JSON', err);
  }
  let p = envelope.payload;
  // JSON.parse rounded a 64-bit integer that a number cannot hold: the payload is read again with such integers as strings.
  if (envelope.int64.length > 0 && p && typeof p === 'object' && (inexact(p.before, envelope.int64) || inexact(p.after, envelope.int64))) {
    p = envelope.whole ? (JSON.parse(exactIntegers(envelope.text)) as { payload?: Record<string, unknown> }).payload : (JSON.parse(exactIntegers(envelope.text)) as Record<string, unknown>);
  }
  if (!p || typeof p !== 'object' || typeof p.op !== 'string' || !['c', 'u', 'd', 'r', 't'].includes(p.op)) {
    throw malformed(m, 'value is not a Debezium change event (no op)');
  }
  const src = (p.source ?? {}) as Record<string, unknown>;
  const decodeRow = envelope.decodeRow;
  const [commitLsn, lsn] = sequence(src.sequence, src.lsn);
  return {
    op: p.op as Op,
    before: p.before ? decodeRow(p.before as Row) : null,
    after: p.after ? decodeRow(p.after as Row) : null,
    key,
    source: {
      lsn,
      commitLsn,
      txId: typeof src.txId === 'number' ? src.txId : null,
      tsMs: typeof src.ts_ms === 'number' ? src.ts_ms : 0,
      snapshot: String(src.snapshot ?? 'false'),
      db: String(src.db ?? ''),
      schema: String(src.schema ?? ''),
      table: String(src.table ?? ''),
      origin: typeof src.origin === 'string' && src.origin !== '' ? src.origin : null,
    },
    tenant,
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
  };
}

/** True for events read by a snapshot (initial or incremental), which carry no stream order of their own. */
export function isSnapshot(e: ChangeEvent): boolean {
  return e.op === 'r' || (e.source.snapshot !== 'false' && e.source.snapshot !== 'last_in_data_collection' && e.source.snapshot !== '');
}

/** Orders two stream positions (commit LSN, then LSN). */
export function comparePosition(a: { commitLsn: bigint | null; lsn: bigint | null }, b: { commitLsn: bigint | null; lsn: bigint | null }): number {
  const ac = a.commitLsn ?? -1n;
  const bc = b.commitLsn ?? -1n;
  if (ac !== bc) return ac < bc ? -1 : 1;
  const al = a.lsn ?? -1n;
  const bl = b.lsn ?? -1n;
  return al === bl ? 0 : al < bl ? -1 : 1;
}

function sequence(seq: unknown, lsn: unknown): [bigint | null, bigint | null] {
  let commit: bigint | null = null;
  let own: bigint | null = typeof lsn === 'number' || typeof lsn === 'string' ? BigInt(lsn) : null;
  if (typeof seq === 'string') {
    try {
      const [c, l] = JSON.parse(seq) as [string | null, string | null];
      if (c) commit = BigInt(c);
      if (l) own = BigInt(l);
    } catch {
      // keep what lsn gave
    }
  }
  return [commit, own];
}

interface Envelope extends RowDecoder {
  readonly payload?: Record<string, unknown>;
  /** The JSON text parsed: the payload's, or the whole message's (whole). */
  readonly text: string;
  readonly whole: boolean;
}

/** Whether a row holds an int64 value that JSON.parse could not keep exact. */
function inexact(row: unknown, int64: readonly string[]): boolean {
  if (!row || typeof row !== 'object') return false;
  for (const name of int64) {
    const v = (row as Row)[name];
    if (typeof v === 'number' ? !Number.isSafeInteger(v) : Array.isArray(v) && v.some((x) => typeof x === 'number' && !Number.isSafeInteger(x))) return true;
  }
  return false;
}

/**
 * The JSON text with every integer literal that a JavaScript number cannot
 * hold exactly turned into a string of its digits (text inside strings
 * untouched; fractions and exponents are not integer literals): JSON.parse
 * then keeps them exact. Called only for a text that holds one, which is rare.
 */
export function exactIntegers(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      continue;
    }
    if (c !== 0x2d && !isDigit(c)) continue;
    let j = i + 1;
    while (j < text.length && isDigit(text.charCodeAt(j))) j++;
    const next = text.charCodeAt(j);
    if (next === 0x2e || next === 0x65 || next === 0x45) {
      // A fraction or an exponent: a double, as JSON.parse reads it.
      while (j < text.length && (isDigit(text.charCodeAt(j)) || '.eE+-'.includes(text[j]!))) j++;
    } else if (j - i >= 16 && !Number.isSafeInteger(Number(text.slice(i, j)))) {
      out += `${text.slice(from, i)}"${text.slice(i, j)}"`;
      from = j;
    }
    i = j - 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A key's payload (the row's key columns): a key column beyond 2^53 kept exact, as the row's own values are. */
function keyOf(b: Buffer): Row {
  const key = (payloadOf(b) as Row | undefined) ?? {};
  for (const k in key) {
    const v = key[k];
    if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) return (payloadOf(b, exactIntegers) as Row | undefined) ?? {};
  }
  return key;
}

const SCHEMA_OPEN = Buffer.from('{"schema":');
const PAYLOAD_AT = Buffer.from('},"payload":');
const CLOSE_BRACE = 0x7d;

/**
 * Where the payload's JSON text starts and ends in a JSON converter message
 * shaped `{"schema":{...},"payload":...}`, or null for any other shape.
 * `},"payload":` cannot occur earlier (quotes inside JSON strings are
 * escaped, and no schema object has a "payload" key).
 */
function payloadSpan(b: Buffer): { at: number; start: number; end: number } | null {
  if (b.length < SCHEMA_OPEN.length + PAYLOAD_AT.length + 1 || b.compare(SCHEMA_OPEN, 0, SCHEMA_OPEN.length, 0, SCHEMA_OPEN.length) !== 0) return null;
  const at = b.indexOf(PAYLOAD_AT, SCHEMA_OPEN.length);
  if (at < 0 || b[b.length - 1] !== CLOSE_BRACE) return null;
  return { at, start: at + PAYLOAD_AT.length, end: b.length - 1 };
}

/** A message's payload, read without parsing its schema. */
function payloadOf(b: Buffer, rewrite: (text: string) => string = (text) => text): unknown {
  const span = payloadSpan(b);
  if (span) return JSON.parse(rewrite(b.toString('utf8', span.start, span.end))) as unknown;
  return (JSON.parse(rewrite(b.toString('utf8'))) as { payload?: unknown }).payload;
}

/** The last schema seen and its decoder: a topic's schema bytes repeat in every event. */
let lastSchema: { bytes: Buffer; decoder: RowDecoder } | null = null;

/**
 * The JSON converter writes `{"schema":{...},"payload":{...}}`, and a table's
 * schema text repeats in every event: it is compared as bytes with the last
 * one seen (where the payload starts is then known without a search; other
 * schemas are found in a cache by text), parsed once per distinct text, and
 * only the payload is decoded and parsed per event. Anything not shaped so is
 * parsed whole.
 */
function parseEnvelope(b: Buffer): Envelope {
  // The common case: the last schema seen, byte for byte, then `,"payload":`. Its end is then
  // known without searching the schema's few kilobytes for `},"payload":`.
  const last = lastSchema;
  if (last !== null) {
    const schemaEnd = SCHEMA_OPEN.length + last.bytes.length;
    const start = schemaEnd + PAYLOAD_AT.length - 1;
    if (
      b.length > start &&
      b[b.length - 1] === CLOSE_BRACE &&
      b.compare(SCHEMA_OPEN, 0, SCHEMA_OPEN.length, 0, SCHEMA_OPEN.length) === 0 &&
      b.compare(last.bytes, 0, last.bytes.length, SCHEMA_OPEN.length, schemaEnd) === 0 &&
      b.compare(PAYLOAD_AT, 1, PAYLOAD_AT.length, schemaEnd, start) === 0
    ) {
      const text = b.toString('utf8', start, b.length - 1);
      return { payload: JSON.parse(text) as Record<string, unknown>, text, whole: false, ...last.decoder };
    }
  }
  const span = payloadSpan(b);
  if (span) {
    const schemaStart = SCHEMA_OPEN.length;
    const schemaEnd = span.at + 1;
    const schemaText = b.toString('utf8', schemaStart, schemaEnd);
    let decoder = decoderCache.get(schemaText);
    if (!decoder) {
      decoder = rowDecoder((JSON.parse(schemaText) as { fields?: FieldSchema[] }).fields);
      if (decoderCache.size > 1000) decoderCache.clear();
      decoderCache.set(schemaText, decoder);
    }
    lastSchema = { bytes: Buffer.from(b.subarray(schemaStart, schemaEnd)), decoder };
    const text = b.toString('utf8', span.start, span.end);
    return { payload: JSON.parse(text) as Record<string, unknown>, text, whole: false, ...decoder };
  }
  const text = b.toString('utf8');
  const whole = JSON.parse(text) as { schema?: { fields?: FieldSchema[] }; payload?: Record<string, unknown> };
  return { payload: whole.payload, text, whole: true, ...rowDecoder(whole.schema?.fields) };
}

function rowDecoder(envelopeFields: FieldSchema[] | undefined): RowDecoder {
  const fields = envelopeFields?.find((f) => f.field === 'after' || f.field === 'before')?.fields;
  if (!fields) return { decodeRow: (row) => row, int64: [] };
  const int64 = fields.filter((f) => f.type === 'int64' || (f.type === 'array' && f.items?.type === 'int64')).map((f) => f.field);
  const json = fields.filter((f) => f.name === 'io.debezium.data.Json').map((f) => f.field);
  const converters = fields.map((f) => [f.field, valueDecoder(f)] as const).filter(([, c]) => c !== null) as Array<readonly [string, (v: unknown) => unknown]>;
  const decodeRow = (row: Row) => {
    for (const k in row) if (row[k] === DEBEZIUM_UNAVAILABLE) row[k] = UNAVAILABLE;
    let texts: Record<string, string> | undefined;
    for (const name of json) {
      const v = row[name];
      if (typeof v === 'string') (texts ??= {})[name] = v;
    }
    if (texts) Object.defineProperty(row, JSON_TEXTS, { value: texts });
    for (const [name, convert] of converters) {
      const v = row[name];
      if (v !== null && v !== undefined && v !== UNAVAILABLE) row[name] = convert(v);
    }
    return row;
  };
  return { decodeRow, int64 };
}

/**
 * PostgreSQL's infinite dates and timestamps, which Debezium sends as ISO
 * strings of instants no PostgreSQL date reaches (year +292278994 or
 * -5877611, say), back to 'infinity' and '-infinity'. A year with a sign is
 * otherwise kept: PostgreSQL's dates run from 4713 BC to 5874897 AD.
 */
function infinity(v: unknown): unknown {
  if (typeof v !== 'string' || (v[0] !== '+' && v[0] !== '-')) return v;
  const year = Number.parseInt(v.slice(1), 10);
  if (v[0] === '+' && year > 5_874_897) return 'infinity';
  if (v[0] === '-' && year > 4_712) return '-infinity';
  return v;
}

function valueDecoder(f: FieldSchema): ((v: unknown) => unknown) | null {
  if (f.name === 'io.debezium.time.IsoDate' || f.name === 'io.debezium.time.IsoTimestamp' || f.name === 'io.debezium.time.ZonedTimestamp') return infinity;
  if (f.name === 'io.debezium.data.Json') return (v) => (typeof v === 'string' ? JSON.parse(v) : v);
  if (f.type === 'bytes' && f.name !== 'org.apache.kafka.connect.data.Decimal') return (v) => (typeof v === 'string' ? Buffer.from(v, 'base64') : v);
  if (f.type === 'array' && f.items) {
    const item = valueDecoder({ ...f.items, field: '' });
    if (!item) return (v) => (Array.isArray(v) && v.includes(DEBEZIUM_UNAVAILABLE) ? UNAVAILABLE : v);
    return (v) => (Array.isArray(v) ? (v.includes(DEBEZIUM_UNAVAILABLE) ? UNAVAILABLE : v.map((x) => (x === null ? null : item(x)))) : v);
  }
  return null;
}

function malformed(m: RawMessage, what: string, cause?: unknown): CdcError {
  return new CdcError('STR_ERR_CDC_EVENT_MALFORMED', `${m.topic}[${m.partition}]@${m.offset}: ${what}`, { cause, context: { topic: m.topic, partition: m.partition, offset: m.offset } });
}
