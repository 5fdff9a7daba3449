import { holdKey, Holds, type Held } from './holds';

const held = (log: string[], name: string, release: () => boolean): Held => ({
  retry: () => {
    const gone = release();
    if (gone) log.push(`${name}:sent`);
    return gone;
  },
  expire: (why) => void log.push(`${name}:${why}`),
});

describe('Holds', () => {
  const key = holdKey('messaging', 'acme');

  it('keeps writes until the routing lets them go, and answers those past their bound', async () => {
    const seen: string[] = [];
    const h = new Holds((_k, _ms, outcome) => seen.push(outcome));
    const log: string[] = [];
    let open = false;
    expect(h.add(key, held(log, 'a', () => open), 10, 5_000)).toBe(true);
    expect(h.add(key, held(log, 'b', () => open), 10, 20)).toBe(true);
    h.retryAll(); // still held
    expect(log).toEqual([]);
    await new Promise((r) => setTimeout(r, 40));
    expect(log).toEqual(['b:timeout']);
    open = true;
    h.retryAll();
    expect(log).toEqual(['b:timeout', 'a:sent']);
    expect(h.depth(key)).toBe(0);
    expect(seen).toEqual(['timeout', 'released']);
  });

  it('refuses past the queue bound, and answers every held write when stopping', () => {
    const h = new Holds();
    const log: string[] = [];
    expect(h.add(key, held(log, 'a', () => false), 1, 5_000)).toBe(true);
    expect(h.add(key, held(log, 'b', () => false), 1, 5_000)).toBe(false);
    h.expireAll();
    expect(log).toEqual(['a:stopping']);
    expect(h.total).toBe(0);
  });

  it('counts writes in flight per domain and tenant, and says when they are drained', async () => {
    const h = new Holds();
    await h.drained(key); // none in flight: at once
    h.begin(key);
    h.begin(key);
    let drained = false;
    const d = h.drained(key).then(() => (drained = true));
    h.end(key);
    await Promise.resolve();
    expect(drained).toBe(false);
    expect(h.inFlight(key)).toBe(1);
    h.end(key);
    await d;
    expect(drained).toBe(true);
  });
});
