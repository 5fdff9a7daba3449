import { compareAnswers, compileRules, type Answer, type ParityRules } from './compare';
import { formatSuggestion, suggestRules } from './suggest';

const json = (v: unknown): Answer => ({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(v)) });

/** Applies every suggestion to the rules, as a user pasting them would. */
function apply(rules: ParityRules, s: ReturnType<typeof suggestRules>): ParityRules {
  let out: ParityRules = { ...rules };
  for (const x of s) {
    if (x.rule === 'sets') out = { ...out, sets: { ...(out.sets ?? {}), [x.path!]: x.key! } };
    else out = { ...out, [x.rule]: x.value };
  }
  return out;
}

describe('suggestRules: the exact rule that makes a mismatch a match', () => {
  // [kind, monolith, candidate, rules already there, expected suggestion texts]
  const table: Array<[string, unknown, unknown, ParityRules, string[]]> = [
    ['a list of scalars in another order (tags)', { tags: ['fx', 'rates', 'eur'] }, { tags: ['eur', 'fx', 'rates'] }, {}, ['sets: { "$.tags": null }']],
    [
      'objects with an id in another order',
      { members: [{ user_id: 1, role: 'owner' }, { user_id: 2, role: 'member' }] },
      { members: [{ user_id: 2, role: 'member' }, { user_id: 1, role: 'owner' }] },
      {},
      ['sets: { "$.members": "user_id" }'],
    ],
    [
      'an inner order inside every element of a list',
      { articles: [{ id: 1, tags: ['a', 'b'] }, { id: 2, tags: ['c', 'd'] }] },
      { articles: [{ id: 1, tags: ['b', 'a'] }, { id: 2, tags: ['d', 'c'] }] },
      {},
      ['sets: { "$.articles[*].tags": null }'],
    ],
    ['a number that differs by float rounding', { total: 0.30000000000000004 }, { total: 0.3 }, {}, ['numericTolerance: 1e-16']],
    ['a decimal sent as a string with another scale and rounding', { amount: '1250.100000001' }, { amount: '1250.1' }, {}, ['numericTolerance: 1e-9']],
    ['a time at another precision', { at: '2026-11-25T10:00:00.123456Z' }, { at: '2026-11-25T10:00:00Z' }, {}, ['timeToleranceMs: 124']],
    ['a time in another zone and at another precision', { at: '2026-11-25T10:00:00.5Z' }, { at: '2026-11-25T11:00:00+01:00' }, {}, ['timeToleranceMs: 500']],
  ];
  it.each(table)('%s', (_kind, a, b, rules, texts) => {
    const s = suggestRules(json(a), json(b), rules);
    expect(s.map((x) => x.text)).toEqual(texts);
    expect(compareAnswers(json(a), json(b), compileRules(rules)).match).toBe(false);
    // Applying what is suggested turns the mismatch into a match.
    expect(compareAnswers(json(a), json(b), compileRules(apply(rules, s))).match).toBe(true);
  });

  it('proposes nothing for a real difference: other elements, another value, another hour', () => {
    expect(suggestRules(json({ tags: ['a', 'b'] }), json({ tags: ['a', 'c'] }))).toEqual([]);
    expect(suggestRules(json({ members: [{ user_id: 1, role: 'owner' }, { user_id: 2, role: 'member' }] }), json({ members: [{ user_id: 2, role: 'owner' }, { user_id: 1, role: 'member' }] }))).toEqual([]);
    expect(suggestRules(json({ total: 10.5 }), json({ total: 10.6 }))).toEqual([]);
    expect(suggestRules(json({ at: '2026-11-25T10:00:00Z' }), json({ at: '2026-11-25T11:00:00Z' }))).toEqual([]);
    expect(suggestRules(json({ at: '2026-11-25T10:00:00.100Z' }), json({ at: '2026-11-25T10:00:00.186Z' }))).toEqual([]);
  });

  it('keeps what is left: a reordered list beside a real difference is suggested, and the real one still mismatches', () => {
    const a = json({ name: 'FX desk', tags: ['x', 'y'] });
    const b = json({ name: 'fx desk', tags: ['y', 'x'] });
    const s = suggestRules(a, b);
    expect(s.map((x) => [x.text, x.resolves])).toEqual([['sets: { "$.tags": null }', 2]]);
    const after = compareAnswers(a, b, compileRules(apply({}, s)));
    expect(after.differences.map((d) => d.path)).toEqual(['$.name']);
  });

  it('says it in one line, naming the route', () => {
    const [s] = suggestRules(json({ tags: ['a', 'b'] }), json({ tags: ['b', 'a'] }));
    expect(formatSuggestion(s!, 'room-get')).toBe('add to routes[room-get].parity: sets: { "$.tags": null }  (the same elements in another order; resolves 2 differences)');
  });
});
