import { compareAnswers, compileRules, differencesOf, type Answer } from './compare';
import { explainedByChange, NoiseModel, type NoiseSettings } from './noise';

const json = (v: unknown, status = 200): Answer => ({ status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(v)) });
const rules = compileRules();

/** A page of articles; `at` is the server's clock, `stamp` a per-answer value. */
const page = (at: string, titles = ['Rates', 'Bonds']) => json({ served_at: at, articles: titles.map((title, i) => ({ id: i + 1, title, tags: ['a', 'b'] })) });

describe('NoiseModel: a rate, not a sighting', () => {
  // [what, settings, pairs (true: the path differed in that pair), noise?]
  const table: Array<[string, Partial<NoiseSettings>, boolean[], boolean]> = [
    ['one pair that differed (the blinding case)', {}, [true], false],
    ['ten pairs, all differed', {}, Array(10).fill(true), true],
    ['nine pairs, all differed: under minPairs', {}, Array(9).fill(true), false],
    ['ten pairs, one differed: 10 % < 20 %', {}, [true, ...Array(9).fill(false)], false],
    ['ten pairs, two differed: 20 % meets minShare', {}, [true, true, ...Array(8).fill(false)], true],
    ['minPairs 3, minShare 1: three of three', { minPairs: 3, minShare: 1 }, [true, true, true], true],
    ['minPairs 3, minShare 1: two of three', { minPairs: 3, minShare: 1 }, [true, false, true], false],
    ['a window of 20: 4 sightings then 20 clean pairs have passed out of it', { windowPairs: 20 }, [...Array(4).fill(true), ...Array(20).fill(false)], false],
    ['a window of 20: 4 sightings among the newest 20', { windowPairs: 20 }, [...Array(16).fill(false), ...Array(4).fill(true)], true],
  ];
  it.each(table)('%s', (_what, settings, pairs, noisy) => {
    const model = new NoiseModel(settings);
    pairs.forEach((differs, i) => model.learn('r', page('2026-01-01T10:00:00Z'), page(differs ? `2026-01-01T10:00:0${(i % 9) + 1}Z` : '2026-01-01T10:00:00Z'), rules, false));
    const d = differencesOf(page('2026-01-01T10:00:00Z'), page('2026-01-01T11:00:00Z'), rules);
    expect(d.map((x) => x.path)).toEqual(['$.served_at']);
    expect(model.predicate('r')(d[0]!)).toBe(noisy);
    const learned = model.learned('r').find((n) => n.path === '$.served_at');
    if (noisy) expect(learned).toMatchObject({ noise: true });
  });

  it('expires: pairs older than maxAgeMs no longer count', () => {
    let now = 0;
    const model = new NoiseModel({ maxAgeMs: 60_000 }, () => now);
    for (let i = 0; i < 10; i++) model.learn('r', page('2026-01-01T10:00:00Z'), page('2026-01-01T10:00:01Z'), rules, false);
    const d = differencesOf(page('2026-01-01T10:00:00Z'), page('2026-01-01T12:00:00Z'), rules)[0]!;
    expect(model.predicate('r')(d)).toBe(true);
    now = 60_001;
    expect(model.predicate('r')(d)).toBe(false);
    expect(model.learned('r')).toEqual([]);
    expect(model.summary('r').pairs).toBe(0);
  });

  it('reports each path with its sightings, pairs, rate, whether it met the bar, and the newest example', () => {
    const model = new NoiseModel();
    for (let i = 0; i < 10; i++) model.learn('r', json({ id: 1, at: 't0', etag: 'x' }), json({ id: 1, at: `t${i + 1}`, etag: i < 1 ? 'y' : 'x' }), rules, false);
    expect(model.learned('r')).toEqual([
      { path: '$.at', seen: 10, samples: 10, rate: 1, noise: true, example: ['t0', 't10'] },
      { path: '$.etag', seen: 1, samples: 10, rate: 0.1, noise: false, example: ['x', 'y'] },
    ]);
  });
});

describe('NoiseModel: nothing learned across a change of the data', () => {
  it('discards a pair the witnesses saw change, counts it, and learns nothing from it', () => {
    const model = new NoiseModel({ minPairs: 1, minShare: 0.01 });
    const v = model.learn('r', page('2026-01-01T10:00:00Z'), page('2026-01-01T10:00:01Z', ['Rates', 'Bonds!']), rules, true);
    expect(v).toEqual({ learned: false, reason: 'data_changed' });
    expect(model.summary('r')).toMatchObject({ pairs: 0, discarded: { data_changed: 1 }, learned: [] });
  });

  const explained: Array<[string, unknown, unknown, string | null, number?]> = [
    ['an article added to the list', { a: [{ id: 1 }] }, { a: [{ id: 1 }, { id: 2 }] }, 'elements_changed'],
    ['an article deleted from the list', { a: [{ id: 1 }, { id: 2 }] }, { a: [{ id: 1 }] }, 'elements_changed'],
    ['a tag added to a list of scalars', { tags: ['a'] }, { tags: ['a', 'b'] }, 'elements_changed'],
    ['a list whose rows moved: an id in one answer only', { a: [{ id: 1, t: 'x' }, { id: 2, t: 'y' }] }, { a: [{ id: 3, t: 'z' }, { id: 2, t: 'y' }] }, 'ids_changed'],
    ['an element whose author_id changed', { a: [{ id: 1, author_id: 5 }] }, { a: [{ id: 1, author_id: 6 }] }, 'ids_changed'],
    ['a row created: 404 then 200', { error: 'not found' }, { id: 4 }, 'status_changed', 404],
    ['a value inside an element (could be noise: left to the rate)', { a: [{ id: 1, at: 't1' }] }, { a: [{ id: 1, at: 't2' }] }, null],
    ['a request id at the top (not an element id)', { request_id: 'r1', x: 1 }, { request_id: 'r2', x: 1 }, null],
  ];
  it.each(explained)('%s', (_what, a, b, reason, status = 200) => {
    expect(explainedByChange(differencesOf(json(a, status), json(b), rules))).toBe(reason);
  });

  it('the article list of the report: a racing write hides nothing, and a broken title is a mismatch', () => {
    const model = new NoiseModel();
    // The suite wrote an article between the two asks; the witnesses missed it (another replica's write).
    const v = model.learn('GET /api/articles', page('t', ['Rates', 'Bonds']), page('t', ['Rates', 'Bonds', 'FX']), rules, false);
    expect(v).toEqual({ learned: false, reason: 'elements_changed' });
    // Even had it been learned, one sighting is not noise.
    model.learn('GET /api/articles', json({ articles: [{ id: 1, title: 'a' }] }), json({ articles: [{ id: 1, title: 'b' }] }), rules, false);
    const c = compareAnswers(page('t', ['Rates', 'Bonds']), page('t', ['Rates', 'Bondz']), rules, model.predicate('GET /api/articles'));
    expect(c.match).toBe(false);
    expect(c.differences.map((d) => d.path)).toEqual(['$.articles[1].title']);
  });
});

describe('NoiseModel: a path covers itself, never what lies below it', () => {
  const learnTen = (model: NoiseModel, a: unknown, b: unknown) => {
    for (let i = 0; i < 10; i++) model.learn('r', json(a), json(b), rules, false);
  };

  it('a noisy field inside elements does not cover the other fields of the element', () => {
    const model = new NoiseModel();
    learnTen(model, { items: [{ id: 1, etag: 'a', title: 'x' }] }, { items: [{ id: 1, etag: 'b', title: 'x' }] });
    const c = compareAnswers(json({ items: [{ id: 1, etag: 'a', title: 'x' }] }), json({ items: [{ id: 1, etag: 'q', title: 'WRONG' }] }), rules, model.predicate('r'));
    expect(c.noise.map((d) => d.path)).toEqual(['$.items[0].etag']);
    expect(c.differences.map((d) => d.path)).toEqual(['$.items[0].title']);
  });

  it('a whole object is noise only when it and each of its fields met the bar', () => {
    const model = new NoiseModel();
    learnTen(model, { promo: null }, { promo: { code: 'x', until: 't' } });
    const isNoise = model.predicate('r');
    const same = compareAnswers(json({ promo: null }), json({ promo: { code: 'y', until: 'u' } }), rules, isNoise);
    expect(same.match).toBe(true);
    expect(same.noise.map((d) => d.path)).toEqual(['$.promo']);
    // A field never seen differing makes the whole value count.
    const more = compareAnswers(json({ promo: null }), json({ promo: { code: 'y', until: 'u', amount: 100 } }), rules, isNoise);
    expect(more.match).toBe(false);
  });

  it('a noisy scalar path does not cover an object the candidate returns below it', () => {
    const model = new NoiseModel();
    learnTen(model, { meta: 'a' }, { meta: 'b' });
    const c = compareAnswers(json({ meta: { v: 1 } }), json({ meta: { v: 2 } }), rules, model.predicate('r'));
    expect(c.match).toBe(false);
    expect(c.differences.map((d) => d.path)).toEqual(['$.meta.v']);
  });

  it('a flapping status is never noise', () => {
    const model = new NoiseModel({ minPairs: 1 });
    const v = model.learn('r', json({}, 200), json({}, 503), rules, false);
    expect(v).toEqual({ learned: false, reason: 'status_changed' });
  });
});
