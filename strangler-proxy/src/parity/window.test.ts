import { SlidingCounts, WINDOW_SECONDS } from './window';

describe('SlidingCounts', () => {
  let now = 1_000_000;
  const counts = () => new SlidingCounts(() => now);

  it('sums the seconds inside the window, and from `since` on', () => {
    const c = counts();
    c.add({ samples: 1 });
    now += 5000;
    c.add({ samples: 2, mismatches: 1 });
    expect(c.sum(10_000)).toMatchObject({ samples: 3, mismatches: 1 });
    expect(c.sum(3000)).toMatchObject({ samples: 2 });
    expect(c.sum(10_000, now - 1000)).toMatchObject({ samples: 2 });
  });

  it('counts a late verdict at the time of its request, so it never counts for what came after', () => {
    const c = counts();
    const requested = now;
    now += 3000;
    c.add({ samples: 1 }); // a verdict of now
    c.add({ samples: 1, mismatches: 1 }, requested); // a verdict that took 3 s
    c.add({ samples: 1 }, requested + 1000); // between the two buckets
    expect(c.sum(10_000, now)).toMatchObject({ samples: 1, mismatches: 0 });
    expect(c.sum(10_000)).toMatchObject({ samples: 3, mismatches: 1 });
    expect(c.sum(10_000, requested + 1000)).toMatchObject({ samples: 2, mismatches: 0 });
  });

  it('leaves out the second `since` falls in when part of it came before', () => {
    const c = counts();
    c.add({ samples: 1, servedErrors: 1 }, now + 200); // the old setting, early in the second
    now += 1500;
    c.add({ samples: 1 }); // the new setting, next second
    expect(c.sum(10_000, now - 1500 + 600)).toMatchObject({ samples: 1, servedErrors: 0 });
    expect(c.sum(10_000, now - 1500)).toMatchObject({ samples: 2, servedErrors: 1 });
  });

  it('drops what is older than the window, and never counts into the future', () => {
    const c = counts();
    c.add({ samples: 1 }, now - WINDOW_SECONDS * 1000);
    c.add({ samples: 1 }, now + 60_000);
    expect(c.sum(WINDOW_SECONDS * 1000)).toMatchObject({ samples: 1 });
    expect(c.sum(1000)).toMatchObject({ samples: 1 });
  });
});
