import { compileConfig } from '../config/compile';
import { GateEvaluator, type GateMove } from './gates';
import type { ParityStats } from './shadow-parity';
import { rates, type Counts } from './window';

const config = compileConfig(
  {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, tokens: [{ name: 'ops', role: 'write', token: { value: 'x'.repeat(32) } }] },
    controlStore: { url: { value: 'postgresql://127.0.0.1:1/unused' } },
    tenants: { acme: { monolith: 'http://monolith.test' } },
    services: { messaging: { url: 'http://service.test' } },
    routes: [
      {
        id: 'articles',
        match: { method: 'GET', path: '/api/articles' },
        service: 'messaging',
        mode: 'shadow',
        gate: { promote: { minSamples: 100, maxMismatchRate: 0.01, maxFilteredShare: 0.05, canarySteps: [] }, rollback: { minSamples: 1000 } },
      },
    ],
  },
  'gates.test',
);

function stats(c: Partial<Counts>): ParityStats {
  const all: Counts = { samples: 0, mismatches: 0, noiseFiltered: 0, noiseDiscarded: 0, shadowErrors: 0, primaryErrors: 0, served: 0, servedErrors: 0, primaryMs: 0, shadowMs: 0, ...c };
  return { route: 'articles', tenant: 'acme', windowMs: 600_000, ...all, ...rates(all) };
}

async function decide(c: Partial<Counts>): Promise<GateMove[]> {
  const gates = new GateEvaluator({
    routes: () => config.table.routes,
    tenants: () => ['acme'],
    overrides: () => new Map(),
    stats: () => stats(c),
    controls: async () => ({ paused: false, frozen: new Set() }),
    move: async () => true,
  });
  return gates.tick();
}

describe('gates judge only what was compared whole', () => {
  // [what, counts, promotes?]
  const table: Array<[string, Partial<Counts>, boolean]> = [
    ['100 comparisons matched whole', { samples: 100 }, true],
    ['100 comparisons, all filtered by learned noise (blind)', { samples: 100, noiseFiltered: 100 }, false],
    ['105 comparisons, 5 filtered: 100 whole and 4.8 % filtered', { samples: 105, noiseFiltered: 5 }, true],
    ['110 comparisons, 10 filtered: 9.1 % filtered > 5 %', { samples: 110, noiseFiltered: 10 }, false],
    ['100 comparisons, 4 filtered: only 96 compared whole < minSamples', { samples: 100, noiseFiltered: 4 }, false],
    ['200 comparisons, 3 mismatched: 1.5 % > 1 %', { samples: 200, mismatches: 3 }, false],
    ['many discarded noise pairs do not block (they are not comparisons)', { samples: 100, noiseDiscarded: 50 }, true],
  ];
  it.each(table)('%s', async (_what, counts, promotes) => {
    const moves = await decide(counts);
    expect(moves.length > 0).toBe(promotes);
    if (promotes) expect(moves[0]).toMatchObject({ kind: 'promote', to: { mode: 'extracted' } });
  });

  it('writes the split in the audit reason', async () => {
    const [m] = await decide({ samples: 105, noiseFiltered: 5 });
    expect(m!.reason).toBe('gate promote: 105 shadow comparisons (100 matched, 5 filtered by learned noise, 0 mismatched), mismatch rate 0.0 % <= 1.0 %, filtered 4.8 % <= 5.0 %, extracted error rate 0.0 % <= 1.0 %');
  });
});
