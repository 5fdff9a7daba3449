import { comparePosition, copyColumn, copyRow, decode, exactIntegers, isSnapshot, jsonText, UNAVAILABLE, type ChangeEvent } from './change-event';

const schema = {
  type: 'struct',
  fields: [
    {
      field: 'before',
      type: 'struct',
      fields: [
        { field: 'id', type: 'int64' },
        { field: 'attachments', type: 'string', name: 'io.debezium.data.Json' },
        { field: 'amount', type: 'string' },
        { field: 'created_at', type: 'string', name: 'io.debezium.time.ZonedTimestamp' },
        { field: 'tags', type: 'array', items: { type: 'string' } },
        { field: 'blob', type: 'bytes' },
        { field: 'body', type: 'string' },
      ],
    },
  ],
};

function message(payload: unknown, offset = '7') {
  return {
    topic: 'acme.public.messages',
    partition: 0,
    offset,
    key: Buffer.from(JSON.stringify({ schema: {}, payload: { id: 1 } })),
    value: payload === null ? null : Buffer.from(JSON.stringify({ schema, payload })),
  };
}

const source = { ts_ms: 1795612815117, snapshot: 'false', db: 'monolith_acme', schema: 'public', table: 'messages', txId: 2565, lsn: 273081448, sequence: '["273081344","273081448"]' };

describe('change events', () => {
  it('decodes a create with exact values: decimals as strings, ISO timestamps kept, JSON parsed, bytes as Buffer, arrays kept', () => {
    const e = decode(
      message({
        op: 'c',
        before: null,
        after: { id: 1, attachments: '[{"name":"a.pdf"}]', amount: '1250.10', created_at: '2026-11-25T13:20:15.110638Z', tags: ['fx', 'eu'], blob: Buffer.from('hi').toString('base64'), body: 'x' },
        source,
      }),
    ) as ChangeEvent;
    expect(e.op).toBe('c');
    expect(e.tenant).toBe('acme');
    expect(e.key).toEqual({ id: 1 });
    expect(e.after).toEqual({ id: 1, attachments: [{ name: 'a.pdf' }], amount: '1250.10', created_at: '2026-11-25T13:20:15.110638Z', tags: ['fx', 'eu'], blob: Buffer.from('hi'), body: 'x' });
    expect(e.source).toEqual({ lsn: 273081448n, commitLsn: 273081344n, txId: 2565, tsMs: 1795612815117, snapshot: 'false', db: 'monolith_acme', schema: 'public', table: 'messages', origin: null });
    expect(isSnapshot(e)).toBe(false);
  });

  it("reads the writing session's replication origin (back-sync's changes), null for an ordinary write or an empty one", () => {
    const at = (origin: unknown) => (decode(message({ op: 'c', before: null, after: { id: 3, attachments: '[]', amount: null, created_at: null, tags: [], blob: null, body: 'x' }, source: { ...source, origin, origin_lsn: 0 } })) as ChangeEvent).source.origin;
    expect(at('strangler_backsync_acme')).toBe('strangler_backsync_acme');
    expect(at(null)).toBeNull();
    expect(at('')).toBeNull();
    expect(at(undefined)).toBeNull();
  });

  it('decodes the same whatever the envelope layout: schema text parsed once, or the whole text when shaped otherwise', () => {
    const payload = { op: 'u', before: null, after: { id: 2, attachments: '{"a":"},\\"payload\\":"}', amount: '1.00', created_at: null, tags: [], blob: null, body: '},"payload":{' }, source };
    const compact = decode(message(payload)) as ChangeEvent;
    const reordered = decode({ ...message(payload), value: Buffer.from(JSON.stringify({ payload, schema }, null, 1)) }) as ChangeEvent;
    expect(compact.after).toEqual({ id: 2, attachments: { a: '},\"payload\":' }, amount: '1.00', created_at: null, tags: [], blob: null, body: '},"payload":{' });
    expect(reordered).toEqual(compact);
  });

  it('decodes each event by its own schema when schemas alternate (the last one seen is only a shortcut)', () => {
    // Another table whose schema is the first one's with a column more: its text starts with the same bytes.
    const wider = { ...schema, fields: [{ ...schema.fields[0]!, fields: [...schema.fields[0]!.fields, { field: 'note', type: 'string', name: 'io.debezium.data.Json' }] }] };
    const row = { id: 3, attachments: '[]', amount: '2.50', created_at: null, tags: [], blob: null, body: 'y' };
    const a = () => decode(message({ op: 'c', before: null, after: row, source })) as ChangeEvent;
    const b = () => decode({ ...message(null), value: Buffer.from(JSON.stringify({ schema: wider, payload: { op: 'c', before: null, after: { ...row, note: '{"n":1}' }, source } })) }) as ChangeEvent;
    for (const e of [a(), a(), b(), b(), a(), b()]) {
      if ('note' in e.after!) expect(e.after).toEqual({ ...row, attachments: [], note: { n: 1 } });
      else expect(e.after).toEqual({ ...row, attachments: [] });
    }
  });

  it('keeps 64-bit integers beyond 2^53 exact, as decimal strings: in rows, in arrays, in the key; other values unchanged', () => {
    const wide = { ...schema, fields: [{ ...schema.fields[0]!, fields: [...schema.fields[0]!.fields, { field: 'ids', type: 'array', items: { type: 'int64' } }, { field: 'ratio', type: 'double' }] }] };
    // JSON text as Debezium writes it: the digits are in the text, and JSON.parse alone would round them.
    const value = `{"schema":${JSON.stringify(wide)},"payload":{"op":"u","before":{"id":9007199254740993,"body":"x"},"after":{"id":9223372036854775807,"ids":[1,-9223372036854775808,9007199254740992],"body":"id 12345678901234567890, kept","ratio":1.0E20,"amount":"123456789012345678.5"},"source":${JSON.stringify(source)},"ts_ns":1795612815117000000}}`;
    const key = Buffer.from('{"schema":{},"payload":{"id":9223372036854775807}}');
    const e = decode({ topic: 'acme.public.messages', partition: 0, offset: '8', key, value: Buffer.from(value) }) as ChangeEvent;
    expect(e.before).toEqual({ id: '9007199254740993', body: 'x' });
    expect(e.after).toEqual({ id: '9223372036854775807', ids: [1, '-9223372036854775808', '9007199254740992'], body: 'id 12345678901234567890, kept', ratio: 1e20, amount: '123456789012345678.5' });
    expect(e.key).toEqual({ id: '9223372036854775807' });
    expect(e.source.lsn).toBe(273081448n);
    // Integers a number holds stay numbers.
    expect((decode(message({ op: 'c', before: null, after: { id: 9007199254740991 }, source })) as ChangeEvent).after).toEqual({ id: 9007199254740991 });
    expect(exactIntegers('{"a":"9007199254740993","b":[9007199254740993,-1.5e300,12],"c":"\\"}')).toBe('{"a":"9007199254740993","b":["9007199254740993",-1.5e300,12],"c":"\\"}');
  });

  it("keeps a JSON column's text as sent beside its parsed value, out of the row's columns, through copies", () => {
    const e = decode(message({ op: 'c', before: null, after: { id: 1, attachments: '{"rate": 1.10,  "n": null}', body: 'x' }, source })) as ChangeEvent;
    expect(e.after).toEqual({ id: 1, attachments: { rate: 1.1, n: null }, body: 'x' });
    expect(Object.keys(e.after!)).toEqual(['id', 'attachments', 'body']);
    expect(jsonText(e.after!, 'attachments')).toBe('{"rate": 1.10,  "n": null}');
    expect(jsonText(e.after!, 'body')).toBeUndefined();
    const copy = copyRow(e.after!);
    expect(jsonText(copy, 'attachments')).toBe('{"rate": 1.10,  "n": null}');
    const jsonNull = decode(message({ op: 'c', before: null, after: { id: 2, attachments: 'null' }, source })) as ChangeEvent;
    expect(jsonNull.after!.attachments).toBeNull();
    expect(jsonText(jsonNull.after!, 'attachments')).toBe('null');
    copyColumn(copy, jsonNull.after!, 'attachments');
    expect(jsonText(copy, 'attachments')).toBe('null');
    copyColumn(copy, { attachments: null }, 'attachments');
    expect(jsonText(copy, 'attachments')).toBeUndefined();
  });

  it("turns Debezium's out-of-range instants for PostgreSQL's infinite dates and timestamps back into infinity", () => {
    const times = { ...schema, fields: [{ ...schema.fields[0]!, fields: [{ field: 'id', type: 'int64' }, { field: 'd', type: 'string', name: 'io.debezium.time.IsoDate' }, { field: 'ts', type: 'string', name: 'io.debezium.time.IsoTimestamp' }, { field: 'tstz', type: 'string', name: 'io.debezium.time.ZonedTimestamp' }, { field: 'note', type: 'string' }] }] };
    const after = { id: 1, d: '-5877611-06-22Z', ts: '+292278994-08-16T23:00:00Z', tstz: '+10000-01-01T00:00:00Z', note: '+292278994-08-16' };
    const e = decode({ ...message(null), value: Buffer.from(JSON.stringify({ schema: times, payload: { op: 'c', before: null, after, source } })) }) as ChangeEvent;
    // A year with a sign that PostgreSQL can hold stays as sent; a text column is never read as a time.
    expect(e.after).toEqual({ id: 1, d: '-infinity', ts: 'infinity', tstz: '+10000-01-01T00:00:00Z', note: '+292278994-08-16' });
  });

  it('turns the TOAST placeholder into UNAVAILABLE, never into a value', () => {
    const e = decode(message({ op: 'u', before: null, after: { id: 1, body: '__debezium_unavailable_value', attachments: '__debezium_unavailable_value', tags: ['__debezium_unavailable_value'] }, source })) as ChangeEvent;
    expect(e.after!.body).toBe(UNAVAILABLE);
    expect(e.after!.attachments).toBe(UNAVAILABLE);
    expect(e.after!.tags).toBe(UNAVAILABLE);
  });

  it('decodes a tombstone and a snapshot read', () => {
    expect(decode(message(null))).toEqual({ op: 'tombstone', key: { id: 1 }, tenant: 'acme', topic: 'acme.public.messages', partition: 0, offset: '7' });
    const r = decode(message({ op: 'r', before: null, after: { id: 1 }, source: { ...source, snapshot: 'true', sequence: null } })) as ChangeEvent;
    expect(isSnapshot(r)).toBe(true);
    expect(r.source.commitLsn).toBeNull();
  });

  it('refuses what is not a Debezium event, with the topic, partition and offset', () => {
    expect(() => decode({ ...message(null), value: Buffer.from('not json') })).toThrow('acme.public.messages[0]@7: value is not JSON');
    expect(() => decode({ ...message(null), value: Buffer.from('{"payload":{"x":1}}') })).toThrow('no op');
  });

  it('orders stream positions by commit LSN, then LSN', () => {
    expect(comparePosition({ commitLsn: 10n, lsn: 5n }, { commitLsn: 10n, lsn: 6n })).toBe(-1);
    expect(comparePosition({ commitLsn: 11n, lsn: 1n }, { commitLsn: 10n, lsn: 99n })).toBe(1);
    expect(comparePosition({ commitLsn: 10n, lsn: 6n }, { commitLsn: 10n, lsn: 6n })).toBe(0);
  });
});
