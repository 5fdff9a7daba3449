import zlib from 'node:zlib';
import { compareAnswers, compileRules, instantUs, type Answer, type ParityRules } from './compare';
import { compilePath } from './json-path';
import { NoiseModel } from './noise';

const json = (body: unknown, status = 200, headers: Record<string, string> = {}): Answer => ({ status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: Buffer.from(JSON.stringify(body)) });
const compare = (a: Answer, b: Answer, rules: ParityRules = {}) => compareAnswers(a, b, compileRules(rules));

describe('parity comparison', () => {
  const room = { id: 7, name: 'FX desk', tags: ['fx', 'eu'], members: [{ user_id: 1, role: 'owner' }, { user_id: 2, role: 'member' }], created_at: '2026-11-25T13:20:15.110638Z', amount: '1250.10' };

  it('passes identical answers, and reports status, header and body differences with their paths', () => {
    expect(compare(json(room), json(room))).toEqual({ match: true, differences: [], noise: [] });
    const changed = compare(json(room), json({ ...room, name: 'FX', extra: 1, members: [room.members[0]] }, 200, { 'content-type': 'text/plain' }));
    expect(changed.match).toBe(false);
    expect(changed.differences.map((d) => [d.path, d.kind])).toEqual([
      ['header:content-type', 'header'],
      ['$.name', 'value'],
      ['$.members[1]', 'missing'],
      ['$.extra', 'extra'],
    ]);
    expect(compare(json(room), json(room, 404)).differences[0]).toEqual({ path: 'status', kind: 'status', primary: 200, candidate: 404 });
    expect(compare(json({ a: 1 }), json({ a: '1x' })).differences[0]!.kind).toBe('type');
  });

  it('compares bodies that are not JSON byte for byte', () => {
    const text = (s: string): Answer => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: s });
    expect(compare(text('ok'), text('ok')).match).toBe(true);
    expect(compare(text('ok'), text('OK')).differences).toEqual([{ path: 'body', kind: 'body', primary: 'ok', candidate: 'OK' }]);
    expect(compare({ status: 204, headers: {}, body: null }, { status: 204, headers: {}, body: Buffer.alloc(0) }).match).toBe(true);
  });

  it('compares what a client reads: a compressed answer (gzip, br) against one sent as it is', () => {
    const coded = (body: unknown, coding: string, encode: (b: Buffer) => Buffer): Answer => {
      const a = json(body, 200, { 'content-encoding': coding });
      return { ...a, body: encode(a.body as Buffer) };
    };
    expect(compare(coded(room, 'gzip', zlib.gzipSync), json(room))).toEqual({ match: true, differences: [], noise: [] });
    expect(compare(coded(room, 'br', zlib.brotliCompressSync), coded({ ...room, name: 'FX' }, 'gzip', zlib.gzipSync)).differences).toEqual([{ path: '$.name', kind: 'value', primary: 'FX desk', candidate: 'FX' }]);
    // A body that says gzip and is not is compared as it came, never a crash.
    const lying = json(room, 200, { 'content-encoding': 'gzip' });
    expect(compare(lying, json({ ...room, name: 'FX' })).differences.map((d) => d.path)).toEqual(['$.name']);
  });

  it('ignores configured JSON paths and everything below them, and only those', () => {
    const a = json({ meta: { request_id: 'a1', took: 3 }, items: [{ id: 1, etag: 'x' }, { id: 2, etag: 'y' }], name: 'n' });
    const b = json({ meta: { request_id: 'b2', took: 9 }, items: [{ id: 1, etag: 'z' }, { id: 2, etag: 'w' }], name: 'm' });
    const r = compare(a, b, { ignore: ['$.meta', '$.items[*].etag'] });
    expect(r.differences.map((d) => d.path)).toEqual(['$.name']);
    expect(compare(a, b, { ignore: ['$..etag', '$.meta.*', '$.name'] }).match).toBe(true);
  });

  it('compares arrays as sets keyed by a field, or as multisets of whole values', () => {
    const a = json({ members: room.members, tags: ['fx', 'eu', 'eu'] });
    const b = json({ members: [...room.members].reverse(), tags: ['eu', 'fx', 'eu'] });
    expect(compare(a, b).match).toBe(false);
    expect(compare(a, b, { sets: { '$.members': 'user_id', '$.tags': null } }).match).toBe(true);
    const c = json({ members: [{ user_id: 2, role: 'owner' }, { user_id: 1, role: 'owner' }], tags: ['eu', 'fx'] });
    expect(compare(a, c, { sets: { '$.members': 'user_id', '$.tags': null } }).differences.map((d) => [d.path, d.kind])).toEqual([
      ['$.members[1].role', 'value'],
      ['$.tags[2]', 'missing'],
    ]);
  });

  it('compares numbers within a tolerance, and exact decimals sent as strings by value', () => {
    expect(compare(json({ rate: 1.0001 }), json({ rate: 1.0002 })).match).toBe(false);
    expect(compare(json({ rate: 1.0001 }), json({ rate: 1.0002 }), { numericTolerance: 0.001 }).match).toBe(true);
    expect(compare(json({ amount: '1250.10' }), json({ amount: '1250.1' })).match).toBe(true);
    expect(compare(json({ amount: '1250.10' }), json({ amount: '1250.11' })).match).toBe(false);
  });

  it('compares timestamps as instants whatever their format or precision', () => {
    const at = '2026-11-25T13:20:15.110638Z';
    for (const same of ['2026-11-25T13:20:15.110638+00:00', '2026-11-25 14:20:15.110638+01', '2026-11-25T14:20:15.1106+0100', '2026-11-25T13:20:15.110Z', '2026-11-25T13:20:15.111Z']) {
      expect({ same, match: compare(json({ at }), json({ at: same })).match }).toEqual({ same, match: true });
    }
    expect(compare(json({ at }), json({ at: '2026-11-25T13:20:16.110638Z' })).match).toBe(false);
    expect(compare(json({ at }), json({ at: '2026-11-25T13:20:16.110638Z' }), { timeToleranceMs: 1500 }).match).toBe(true);
    expect(instantUs('2026-11-25T13:20:15.000001Z')! - instantUs('2026-11-25T13:20:15Z')!).toBe(1);
    expect(instantUs('not a time')).toBeNull();
  });

  it('leaves out differences on learned noise (a request id, a server clock), never a real difference in the same body', () => {
    const noise = new NoiseModel();
    const rules = compileRules();
    const answer = (requestId: string, servedAt: string, body: string) => json({ request_id: requestId, served_at: servedAt, message: { id: 3, body } });
    for (let i = 0; i < 10; i++) noise.learn('GET /api/messages/:id', answer(`r-${i}`, `2026-11-25T10:00:0${i}.001Z`, 'hello'), answer(`r-${i}b`, `2026-11-25T10:00:0${i}.417Z`, 'hello'), rules, false);
    const result = compareAnswers(answer('r-1', '2026-11-25T10:00:00.001Z', 'hello'), answer('c-9', '2026-11-25T10:00:03.000Z', 'HELLO'), rules, noise.predicate('GET /api/messages/:id'));
    expect(result.noise.map((d) => d.path)).toEqual(['$.request_id', '$.served_at']);
    expect(result.differences.map((d) => d.path)).toEqual(['$.message.body']);
    expect(result.match).toBe(false);
    // Learned for that route only.
    expect(compareAnswers(answer('a', 'b', 'x'), answer('c', 'd', 'x'), rules, noise.predicate('GET /api/rooms')).match).toBe(false);
  });

  it('reports keys by what each object owns: a key named like a prototype member is missing, not of another type', () => {
    const r = compare(json({ toString: 1, constructor: 'x', a: 1 }), json({ a: 1, valueOf: 2 }));
    expect(r.differences.map((d) => [d.path, d.kind])).toEqual([
      ['$.toString', 'missing'],
      ['$.constructor', 'missing'],
      ['$.valueOf', 'extra'],
    ]);
    expect(compare(json({ a: 1, b: 2 }), json({ b: 2, a: 1 })).match).toBe(true);
    expect(compare(json({ a: 1 }), json({ b: 1 })).differences.map((d) => d.kind)).toEqual(['missing', 'extra']);
  });

  it('compares sets of more than sixteen elements, and timestamps whose zones or fractions differ in shape', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ id: i, v: i * 2 }));
    const shuffled = [...many].reverse().map((e) => (e.id === 7 ? { ...e, v: -1 } : e));
    const r = compare(json({ many }), json({ many: shuffled.filter((e) => e.id !== 3).concat([{ id: 99, v: 0 }]) }), { sets: { '$.many': 'id' } });
    expect(r.differences.map((d) => [d.path, d.kind])).toEqual([
      ['$.many[3]', 'missing'],
      ['$.many[7].v', 'value'],
      ['$.many[39]', 'extra'],
    ]);
    const at = '2026-11-25T13:20:15.110638Z';
    expect(compare(json({ at }), json({ at: '2026-11-25T13:20:15.110638z' })).match).toBe(true);
    expect(compare(json({ at }), json({ at: '2026-11-25T13:20:15.1106381234Z' })).match).toBe(false); // ten digits: not a timestamp
    expect(compare(json({ at: '2026-11-25T13:20:15.5+01:00' }), json({ at: '2026-11-25T13:20:15.5+0100' })).match).toBe(true);
    expect(compare(json({ at: '2026-11-25T13:20:15.5+01:00' }), json({ at: '2026-11-25T13:20:15.5+02:00' })).match).toBe(false);
    // Not a zone: such strings are not timestamps, so even fractions 0.4 ms apart are a difference.
    expect(compare(json({ at: '2026-11-25T13:20:15.5000+12345' }), json({ at: '2026-11-25T13:20:15.5004+12345' })).match).toBe(false);
  });

  it('reads the path syntax, and refuses what it cannot read with the pattern in the message', () => {
    expect(compilePath('$.a["b c"][2]')('$.a["b c"][2].d')).toBe(true);
    expect(compilePath('$.a["b"]', true)('$.a.b')).toBe(true);
    expect(compilePath('$.a', true)('$.a.b')).toBe(false);
    expect(compilePath('$..id')('$.x[3].y.id')).toBe(true);
    expect(compilePath('$..id')('$.x[3].y.idx')).toBe(false);
    expect(() => compilePath('a.b')).toThrow(/"a.b": a path starts with \$/);
    expect(() => compilePath('$.a[b]')).toThrow(/cannot read it from "\[b\]"/);
  });
});
