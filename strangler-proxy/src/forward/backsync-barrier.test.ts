import { BackSyncBarrier } from './backsync-barrier';

/** A run whose rounds end when the test says. */
function controlled() {
  const pending: Array<{ key: string; ok: () => void; fail: (e: Error) => void }> = [];
  const run = (key: string) => () => new Promise<void>((ok, fail) => pending.push({ key, ok, fail }));
  return { pending, run };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('BackSyncBarrier', () => {
  let clock = 1_000;
  const now = () => clock;
  beforeEach(() => (clock = 1_000));

  it('waits for a round started after the mark, and answers at once once one has finished', async () => {
    const c = controlled();
    const b = new BackSyncBarrier(() => {}, now);
    const first = b.wait('messaging/acme', 999, 5_000, c.run('messaging/acme'));
    await tick();
    expect(c.pending).toHaveLength(1);
    c.pending[0]!.ok();
    await expect(first).resolves.toBe('waited');
    // A write answered before that round started is covered by it.
    await expect(b.wait('messaging/acme', 999, 5_000, c.run('messaging/acme'))).resolves.toBe('now');
    // One answered later is not.
    clock = 1_010;
    const later = b.wait('messaging/acme', 1_005, 5_000, c.run('messaging/acme'));
    await tick();
    expect(c.pending).toHaveLength(2);
    c.pending[1]!.ok();
    await expect(later).resolves.toBe('waited');
  });

  it('shares rounds: requests during a round wait together for the one round after it', async () => {
    const c = controlled();
    const b = new BackSyncBarrier(() => {}, now);
    const a = b.wait('k', 999, 5_000, c.run('k')); // starts round 1 at 1000
    await tick();
    clock = 1_020;
    // Marks after round 1 started: round 1 cannot prove them; they share round 2.
    const x = b.wait('k', 1_010, 5_000, c.run('k'));
    const y = b.wait('k', 1_015, 5_000, c.run('k'));
    // A mark before round 1 started joins round 1.
    const z = b.wait('k', 990, 5_000, c.run('k'));
    await tick();
    expect(c.pending).toHaveLength(1);
    c.pending[0]!.ok();
    await expect(a).resolves.toBe('waited');
    await expect(z).resolves.toBe('waited');
    await tick();
    expect(c.pending).toHaveLength(2); // round 2 started once round 1 ended
    c.pending[1]!.ok();
    await expect(Promise.all([x, y])).resolves.toEqual(['waited', 'waited']);
    expect(b.state('k')).toEqual({ through: 1_020, running: false, queued: false });
  });

  it('keeps keys apart', async () => {
    const c = controlled();
    const b = new BackSyncBarrier(() => {}, now);
    void b.wait('messaging/acme', 999, 5_000, c.run('messaging/acme'));
    void b.wait('messaging/globex', 999, 5_000, c.run('messaging/globex'));
    await tick();
    expect(c.pending.map((p) => p.key).sort()).toEqual(['messaging/acme', 'messaging/globex']);
  });

  it('times a request out without ending the round, and says a failed round', async () => {
    const c = controlled();
    const errors: unknown[] = [];
    const b = new BackSyncBarrier((_k, e) => errors.push(e), now);
    await expect(b.wait('k', 999, 20, c.run('k'))).resolves.toBe('timeout');
    expect(b.state('k').running).toBe(true);
    const again = b.wait('k', 999, 5_000, c.run('k')); // the same round still proves it
    c.pending[0]!.fail(new Error('service database unreachable'));
    await expect(again).resolves.toBe('failed');
    expect(errors).toHaveLength(1);
    expect(b.state('k')).toEqual({ through: null, running: false, queued: false });
    // The next request starts a new round.
    const next = b.wait('k', 999, 5_000, c.run('k'));
    await tick();
    c.pending[1]!.ok();
    await expect(next).resolves.toBe('waited');
  });
});
