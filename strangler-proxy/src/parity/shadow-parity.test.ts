import { ShadowParity } from './shadow-parity';

describe('ShadowParity shared between processes', () => {
  it('hands over what it counted, per route, tenant and second, once; another applies it at those times', () => {
    let now = 1_000_000;
    const a = new ShadowParity(() => now);
    const b = new ShadowParity(() => now);
    a.share();
    a.count('r', 'acme', { samples: 1, mismatches: 1 }, now - 1500);
    a.count('r', 'acme', { samples: 1 }, now - 1200);
    a.served('r', 'acme', 'extracted', 503);
    a.served('r', 'acme', 'monolith', 200); // not the service's: not counted
    const deltas = a.take();
    expect(deltas).toEqual([
      { route: 'r', tenant: 'acme', atMs: 998_000, counts: { samples: 2, mismatches: 1 } },
      { route: 'r', tenant: 'acme', atMs: 1_000_000, counts: { served: 1, servedErrors: 1 } },
    ]);
    expect(a.take()).toEqual([]);
    b.apply(deltas);
    b.count('r', 'acme', { samples: 1 }, now);
    expect(b.stats('r', 'acme', 60_000)).toMatchObject({ samples: 3, mismatches: 1, served: 1, servedErrors: 1 });
    // Counted at the second they happened: a window that starts after them leaves them out.
    now += 1000;
    expect(b.stats('r', 'acme', 60_000, 999_500)).toMatchObject({ samples: 1, served: 1 });
    // A process that does not share keeps nothing to hand over.
    expect(b.take()).toEqual([]);
  });
});
