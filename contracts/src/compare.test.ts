import { compareShapes, formatChanges, type Consumer } from './compare';
import { schemasOf, type ContractColumn, type Shape } from './contract';
import { columnSchema, widens } from './json-schema';

const col = (name: string, type: string, nullable = false, hasDefault = false): ContractColumn => ({ name, type, nullable, hasDefault });
const rooms: Shape = { stream: 'public.rooms', key: ['id'], columns: [col('id', 'integer', false, true), col('name', 'text'), col('topic', 'text', true), col('budget', 'numeric(12,2)', true), col('code', 'character varying(20)')] };
const consumers: Consumer[] = [
  { name: 'search-index', owner: 'search', kind: 'projection', reads: { 'public.rooms': ['id', 'name'] } },
  { name: 'messaging-mirror', owner: 'messaging', kind: 'mirror', reads: { 'public.rooms': '*' } },
  { name: 'billing', owner: 'billing', kind: 'service', reads: { 'public.rooms': ['id', 'budget'] } },
];
const change = (to: Partial<Shape>) => compareShapes(new Map([['public.rooms', rooms]]), new Map([['public.rooms', { ...rooms, ...to }]]), consumers);
const withColumns = (f: (c: ContractColumn[]) => ContractColumn[]) => change({ columns: f([...rooms.columns]) });

describe('contract changes, judged per consumer', () => {
  it('a nullable column added, or one with a default, breaks no one', () => {
    const c = withColumns((cs) => [...cs, col('archived_at', 'timestamp with time zone', true), col('kind', 'text', false, true)]);
    expect(c.map((x) => [x.kind, x.column, x.breaking])).toEqual([['column-added', 'archived_at', false], ['column-added', 'kind', false]]);
  });

  it('a NOT NULL column without a default breaks every consumer, with the safe way', () => {
    const [c] = withColumns((cs) => [...cs, col('owner_id', 'integer')]);
    expect(c).toMatchObject({ kind: 'column-added-required', breaking: true, breaks: ['search-index', 'messaging-mirror', 'billing'] });
    expect(c!.advice).toMatch(/^expand: add owner_id nullable \(or with a default\); migrate: backfill it/);
  });

  it('a dropped column breaks those who read it (and a mirror), not the others', () => {
    const [c] = withColumns((cs) => cs.filter((x) => x.name !== 'budget'));
    expect(c).toMatchObject({ kind: 'column-dropped', column: 'budget', breaking: true, breaks: ['messaging-mirror', 'billing'] });
    const [topic] = compareShapes(new Map([['public.rooms', rooms]]), new Map([['public.rooms', { ...rooms, columns: rooms.columns.filter((x) => x.name !== 'topic') }]]), [consumers[0]!]);
    expect(topic).toMatchObject({ kind: 'column-dropped', breaking: false, breaks: [] });
  });

  it('a rename is seen as one (a column dropped and one added of the same type) and breaks its readers', () => {
    const [c] = withColumns((cs) => cs.map((x) => (x.name === 'name' ? col('title', 'text') : x)));
    expect(c).toMatchObject({ kind: 'column-renamed', column: 'name', breaking: true, breaks: ['search-index', 'messaging-mirror'] });
    expect(c!.detail).toBe('column name seems renamed to title (text)');
    expect(c!.advice).toMatch(/^expand: add title beside name and write both/);
  });

  it('a type widened reads the same; narrower or another representation breaks its readers', () => {
    const wide = withColumns((cs) => cs.map((x) => (x.name === 'budget' ? col('budget', 'numeric(14,2)', true) : x.name === 'code' ? col('code', 'text') : x)));
    expect(wide.map((x) => [x.kind, x.breaking])).toEqual([['column-widened', false], ['column-widened', false]]);
    const narrow = withColumns((cs) => cs.map((x) => (x.name === 'budget' ? col('budget', 'numeric(12,1)', true) : x.name === 'id' ? col('id', 'bigint', false, true) : x)));
    expect(narrow.map((x) => [x.kind, x.column, x.breaking, x.breaks])).toEqual([
      ['column-widened', 'id', false, []],
      ['column-retyped', 'budget', true, ['messaging-mirror', 'billing']],
    ]);
    expect(widens('integer', 'numeric(20,0)')).toBe(false); // a number becomes a decimal string
    expect(widens('character varying(20)', 'character varying(10)')).toBe(false);
    expect(widens('smallint', 'bigint')).toBe(true);
  });

  it('a column that may now be null breaks its readers; NOT NULL added breaks no one', () => {
    const c = withColumns((cs) => cs.map((x) => (x.name === 'name' ? col('name', 'text', true) : x.name === 'topic' ? col('topic', 'text', false) : x)));
    expect(c.map((x) => [x.kind, x.column, x.breaks])).toEqual([['column-nullable', 'name', ['search-index', 'messaging-mirror']], ['column-not-null', 'topic', []]]);
  });

  it('a changed key breaks every consumer of the stream, and so does a dropped stream', () => {
    const [k] = change({ key: ['id', 'code'] });
    expect(k).toMatchObject({ kind: 'key-changed', breaking: true, breaks: ['search-index', 'messaging-mirror', 'billing'] });
    const [d] = compareShapes(new Map([['public.rooms', rooms]]), new Map(), consumers);
    expect(d).toMatchObject({ kind: 'stream-dropped', breaking: true });
    expect(formatChanges([k!])).toMatch(/^BREAKING public\.rooms: the key changed from \(id\) to \(id, code\).*\n  breaks: search-index, messaging-mirror, billing\n  evolve safely: a new key is a new stream/s);
  });
});

describe('column JSON Schemas follow the connectors encoding', () => {
  it('decimals as exact strings, int64 exact, times as ISO strings, nullability as a null alternative', () => {
    expect(columnSchema('numeric(18,2)', false)).toMatchObject({ type: 'string', 'x-decimal': { precision: 18, scale: 2 } });
    expect(columnSchema('bigint', false)).toMatchObject({ type: 'integer', format: 'int64' });
    expect(columnSchema('timestamp(6) with time zone', true)).toEqual({ anyOf: [{ type: 'string', format: 'date-time', 'x-pg-type': 'timestamp(6) with time zone' }, { type: 'null' }] });
    expect(columnSchema('timestamp without time zone', false)).toMatchObject({ format: 'date-time', 'x-timezone': 'none' });
    expect(columnSchema('text[]', false)).toMatchObject({ type: 'array', items: { type: 'string' } });
    expect(columnSchema('character varying(200)', false)).toMatchObject({ type: 'string', maxLength: 200 });
    expect(columnSchema('bytea', false)).toMatchObject({ contentEncoding: 'base64' });
  });
});

describe('a contract\'s event schema', () => {
  it('accepts a decoded change event of its table and refuses one with a value of another type', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Ajv2020 = require('ajv/dist/2020').default;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addFormats = require('ajv-formats').default;
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    const { eventSchema } = schemasOf(rooms);
    const validate = ajv.compile(eventSchema);
    const after = { id: 7, name: 'desk', topic: null, budget: '1250.10', code: 'EU-1' };
    const event = { op: 'u', before: { ...after, name: 'old' }, after, source: { lsn: '23456', commitLsn: '23400', txId: 9, tsMs: 1796699222875, snapshot: 'false', db: 'monolith_acme', schema: 'public', table: 'rooms', origin: null } };
    expect(validate(event)).toBe(true);
    expect(validate({ ...event, after: { ...after, budget: 1250.1 } })).toBe(false);
    expect(validate({ ...event, op: 'x' })).toBe(false);
  });
});
