import { CircuitBreaker, type BreakerState } from './breaker';

describe('circuit breaker', () => {
  let now = 0;
  const states: BreakerState[] = [];
  const make = () => new CircuitBreaker({ failures: 3, windowMs: 1000, openMs: 500 }, (s) => states.push(s), () => now);
  beforeEach(() => {
    now = 0;
    states.length = 0;
  });

  it('admits() answers as allow() would, without taking the half-open probe', () => {
    const b = make();
    for (let i = 0; i < 3; i++) b.failure();
    expect(b.admits()).toBe(false);
    now = 600;
    expect(b.admits()).toBe(true);
    expect(b.admits()).toBe(true); // asking again takes nothing
    expect(b.allow()).toBe(true);
    expect(b.admits()).toBe(false); // the probe is out
    b.release();
    expect(b.admits()).toBe(true);
  });

  it('opens after N failures inside the window, then lets one probe through after openMs', () => {
    const b = make();
    b.failure();
    b.failure();
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
    now = 600;
    expect(b.allow()).toBe(true); // the probe
    expect(b.state).toBe('half-open');
    expect(b.allow()).toBe(false); // only one probe at a time
    b.success();
    expect(b.state).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('forgets failures older than the window', () => {
    const b = make();
    b.failure();
    b.failure();
    now = 1500;
    b.failure();
    expect(b.state).toBe('closed');
  });

  it('re-opens when the probe fails', () => {
    const b = make();
    b.failure();
    b.failure();
    b.failure();
    now = 600;
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
  });
});
