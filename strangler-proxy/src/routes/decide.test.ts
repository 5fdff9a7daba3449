import type { ModeSetting } from '../config/schema';
import { decide, type Facts, type Plan } from './decide';

/** Facts with every lookup answering "nothing in the way"; a row overrides what it is about. */
function facts(over: Partial<Omit<Facts, 'inCanary' | 'draw' | 'behind' | 'writeUnapplied' | 'admits' | 'holding'>> & { inCanary?: boolean; draw?: number; behind?: boolean; writeUnapplied?: boolean; admits?: ReturnType<Facts['admits']>; holding?: boolean } = {}): Facts {
  return {
    method: over.method ?? 'GET',
    owner: over.owner === undefined ? null : over.owner,
    holding: () => over.holding ?? false,
    setting: over.setting === undefined ? { mode: 'monolith' } : over.setting,
    mirrorable: over.mirrorable ?? true,
    sampleRate: over.sampleRate ?? 1,
    freshness: over.freshness ?? true,
    inCanary: () => over.inCanary ?? false,
    draw: () => over.draw ?? 0.5,
    behind: () => over.behind ?? false,
    writeUnapplied: () => over.writeUnapplied ?? false,
    admits: () => over.admits ?? 'yes',
  };
}

const shadow: ModeSetting = { mode: 'shadow' };
const extracted: ModeSetting = { mode: 'extracted' };
const canary: ModeSetting = { mode: 'canary', percent: 10 };

describe('decide: where a request goes', () => {
  const table: Array<[string, Parameters<typeof facts>[0], Plan]> = [
    ['no route or no service', { setting: null }, { to: 'monolith' }],
    ['monolith mode', { setting: { mode: 'monolith' } }, { to: 'monolith' }],
    ['extracted, a fresh service', { setting: extracted }, { to: 'service' }],
    ['extracted, a read while the service is behind', { setting: extracted, behind: true }, { to: 'monolith', heldBack: 'behind' }],
    ['extracted, a read of a client whose write is not applied yet', { setting: extracted, writeUnapplied: true }, { to: 'monolith', heldBack: 'unapplied_write' }],
    ['extracted, behind and unapplied: behind is said first', { setting: extracted, behind: true, writeUnapplied: true }, { to: 'monolith', heldBack: 'behind' }],
    ['extracted, a write while the service is behind still goes to the service', { setting: extracted, method: 'POST', behind: true }, { to: 'service' }],
    ['extracted, a service without freshness is never held back', { setting: extracted, freshness: false, behind: true, writeUnapplied: true }, { to: 'service' }],
    ['canary, in the share', { setting: canary, inCanary: true }, { to: 'service' }],
    ['canary, in the share, behind', { setting: canary, inCanary: true, behind: true }, { to: 'monolith', heldBack: 'behind' }],
    ['canary, out of the share', { setting: canary, inCanary: false, behind: true }, { to: 'monolith' }],
    ['shadow, a read copied', { setting: shadow }, { to: 'monolith', copy: true }],
    ['shadow, a write without a dry-run contract', { setting: shadow, method: 'POST', mirrorable: false }, { to: 'monolith', skipped: 'skipped_write' }],
    ['shadow, a write with a dry-run contract', { setting: shadow, method: 'POST', mirrorable: true }, { to: 'monolith', copy: true }],
    ['shadow, left out of a 10 % sample', { setting: shadow, sampleRate: 0.1, draw: 0.5 }, { to: 'monolith', skipped: 'skipped_sample' }],
    ['shadow, drawn into a 10 % sample', { setting: shadow, sampleRate: 0.1, draw: 0.05 }, { to: 'monolith', copy: true }],
    ['shadow, a service behind', { setting: shadow, behind: true }, { to: 'monolith', skipped: 'skipped_behind' }],
    ['shadow, a mirrored write while the service is behind', { setting: shadow, method: 'POST', behind: true }, { to: 'monolith', skipped: 'skipped_behind' }],
    ['shadow, the client\'s own write not applied', { setting: shadow, writeUnapplied: true }, { to: 'monolith', skipped: 'skipped_unapplied_write' }],
    ['shadow, a mirrored write with an unapplied mark is still copied (it reads nothing back)', { setting: shadow, method: 'POST', writeUnapplied: true }, { to: 'monolith', copy: true }],
    ['shadow, the queue full', { setting: shadow, admits: 'dropped_queue_full' }, { to: 'monolith', skipped: 'dropped_queue_full' }],
    ['shadow, the copies failing', { setting: shadow, admits: 'skipped_shadow_failing' }, { to: 'monolith', skipped: 'skipped_shadow_failing' }],
    // Write ownership of a domain comes before modes.
    ['a domain the monolith owns, extracted: a read goes to the service', { owner: 'monolith', setting: extracted }, { to: 'service' }],
    ['a domain the monolith owns, extracted: a write goes to the monolith', { owner: 'monolith', setting: extracted, method: 'POST' }, { to: 'monolith' }],
    ['a domain the monolith owns, canary in the share: a write goes to the monolith', { owner: 'monolith', setting: canary, inCanary: true, method: 'DELETE' }, { to: 'monolith' }],
    ['a domain the monolith owns, shadow: a write with a dry-run contract is copied', { owner: 'monolith', setting: shadow, method: 'POST', mirrorable: true }, { to: 'monolith', copy: true }],
    ['a domain the service owns, monolith mode: a read goes to the owner', { owner: 'service', setting: { mode: 'monolith' } }, { to: 'service', owner: true }],
    ['a domain the service owns: a write goes to the owner', { owner: 'service', setting: shadow, method: 'PATCH' }, { to: 'service', owner: true }],
    ['a domain the service owns: a read is never held back for freshness', { owner: 'service', setting: extracted, behind: true, writeUnapplied: true }, { to: 'service', owner: true }],
    ['a hand-over holding: a write waits', { owner: 'monolith', holding: true, setting: { mode: 'monolith' }, method: 'POST' }, { to: 'hold' }],
    ['a hand-over holding: a write to the service-owned domain waits', { owner: 'service', holding: true, setting: extracted, method: 'PUT' }, { to: 'hold' }],
    ['a hand-over holding: a read goes on to the owner', { owner: 'service', holding: true, setting: extracted }, { to: 'service', owner: true }],
    ['a hand-over holding: a read of a monolith-owned domain goes on', { owner: 'monolith', holding: true, setting: { mode: 'monolith' } }, { to: 'monolith' }],
  ];
  it.each(table)('%s', (_what, f, plan) => {
    expect(decide(facts(f))).toEqual(plan);
  });

  it('asks nothing it does not need: monolith mode looks nothing up, a copy not drawn asks no service', () => {
    const asked: string[] = [];
    const spy = (f: Facts): Facts => ({
      ...f,
      inCanary: () => (asked.push('inCanary'), f.inCanary()),
      behind: () => (asked.push('behind'), f.behind()),
      writeUnapplied: () => (asked.push('writeUnapplied'), f.writeUnapplied()),
      admits: () => (asked.push('admits'), f.admits()),
    });
    decide(spy(facts({ setting: { mode: 'monolith' } })));
    decide(spy(facts({ setting: shadow, sampleRate: 0.1, draw: 0.9 })));
    expect(asked).toEqual([]);
  });

  it('gives shared frozen plans: deciding allocates nothing', () => {
    const a = decide(facts({ setting: shadow, behind: true }));
    expect(decide(facts({ setting: shadow, behind: true }))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });
});
