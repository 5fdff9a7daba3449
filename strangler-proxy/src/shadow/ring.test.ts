import { BodyRing } from './ring';

describe('BodyRing', () => {
  const bytes = (s: string) => Buffer.from(s);

  it('carries bodies written from chunks, read back through a second view of the same memory', () => {
    const w = new BodyRing(32);
    const r = new BodyRing(w.shared);
    const a = w.write([bytes('hello '), bytes('world')], 11)!;
    const b = w.write([bytes('!')], 1)!;
    expect([r.read(a).toString(), r.read(b).toString()]).toEqual(['hello world', '!']);
    expect(w.inUse).toBe(12);
    r.release(a);
    r.release(b);
    expect(w.inUse).toBe(0);
  });

  it('refuses what does not fit until the reader releases, and wraps to keep a body contiguous', () => {
    const w = new BodyRing(10);
    const a = w.write([bytes('1234')], 4)!;
    const b = w.write([bytes('5678')], 4)!;
    expect(w.write([bytes('abcd')], 4)).toBeNull(); // 2 left at the end, 2 at the front: no room for 4 in one piece
    w.release(a);
    const c = w.write([bytes('ab'), bytes('cd')], 4)!; // the 2 at the end are skipped, written at 0
    expect([c.at, c.charge]).toEqual([0, 6]);
    expect(w.write([bytes('x')], 1)).toBeNull(); // the skipped tail counts until c is released
    expect([w.read(b).toString(), w.read(c).toString()]).toEqual(['5678', 'abcd']);
    w.release(b);
    w.release(c);
    expect(w.inUse).toBe(0);
    expect(w.write([bytes('0123456789')], 10)).toMatchObject({ at: 0, length: 10 }); // empty: back to the front
  });

  it('never takes a body larger than the ring, and a reset frees everything', () => {
    const w = new BodyRing(8);
    expect(w.write([bytes('123456789')], 9)).toBeNull();
    w.write([bytes('1234')], 4);
    w.reset();
    expect(w.inUse).toBe(0);
    expect(w.write([bytes('12345678')], 8)).toMatchObject({ at: 0 });
  });

  it('survives a long FIFO run with random sizes and never overlaps a live slot', () => {
    const w = new BodyRing(1000);
    const live: Array<{ slot: NonNullable<ReturnType<BodyRing['write']>>; text: string }> = [];
    let n = 0;
    for (let i = 0; i < 5000; i++) {
      if (live.length > 0 && (Math.random() < 0.5 || live.length > 20)) {
        const { slot, text } = live.shift()!;
        expect(w.read(slot).toString()).toBe(text);
        w.release(slot);
        continue;
      }
      const text = `${n++}:`.padEnd(1 + Math.floor(Math.random() * 200), 'x');
      const slot = w.write([bytes(text)], text.length);
      if (slot) live.push({ slot, text });
    }
    for (const { slot, text } of live) expect(w.read(slot).toString()).toBe(text);
  });
});
