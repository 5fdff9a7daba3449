import { holds, STEPS, undoPlan } from './domain';

describe('hand-over steps', () => {
  it('holds writes from hold to the flip, in both directions, and not before or after', () => {
    for (const to of ['service', 'monolith'] as const) {
      const steps: readonly string[] = STEPS[to];
      const held = steps.filter(holds);
      expect(held[0]).toBe('hold');
      expect(held[held.length - 1]).toBe('flip');
      expect(steps.slice(steps.indexOf('hold'), steps.indexOf('flip') + 1)).toEqual(held);
    }
  });

  it('undoes what changed outside the control store, newest first, and nothing once flipped', () => {
    expect(undoPlan('service', ['preflight', 'hold', 'drain', 'fence'])).toEqual([]);
    expect(undoPlan('service', ['preflight', 'hold', 'drain', 'fence', 'catch_up', 'sequences', 'grant'])).toEqual(['revoke_grant']);
    expect(undoPlan('service', ['preflight', 'hold', 'drain', 'fence', 'catch_up', 'sequences', 'grant', 'flip'])).toEqual([]);
    expect(undoPlan('monolith', ['preflight', 'hold', 'drain', 'revoke', 'catch_up'])).toEqual(['regrant']);
    expect(undoPlan('monolith', ['preflight', 'hold', 'drain', 'revoke', 'catch_up', 'sequences', 'unfence'])).toEqual(['refence', 'regrant']);
    expect(undoPlan('monolith', ['preflight', 'hold', 'drain', 'revoke', 'catch_up', 'sequences', 'unfence', 'flip'])).toEqual([]);
  });
});
