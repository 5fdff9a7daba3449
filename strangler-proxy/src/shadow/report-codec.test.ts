import type { MismatchRecord } from '../parity/judge';
import { ReportPacker, unpackReports } from './report-codec';

describe('shadow report codec', () => {
  const mismatch: MismatchRecord = {
    routeId: 'r',
    tenant: 't',
    request: { method: 'GET', path: '/x', headers: {}, body: null },
    primary: { status: 200, body: '{"a":1}', ms: 1.5 },
    shadow: { status: 200, body: '{"a":2}', ms: 2.5 },
    differences: [{ path: '$.a', kind: 'value', primary: 1, candidate: 2 }],
  };

  it('hands back every report in order with its outcome, status, counts and sampled mismatch', () => {
    const p = new ReportPacker();
    p.add(7, 'completed', 200, { samples: 1, mismatches: 1, primaryMs: 1.25, shadowMs: 3.5 }, mismatch);
    p.add(8, 'timeout', 0, { shadowErrors: 1, primaryErrors: 0 });
    p.add(9, 'starved', 0, null);
    p.add(2 ** 40, 'error', 0, { shadowErrors: 1 });
    expect(p.size).toBe(4);
    const batch = p.take()!;
    expect(p.take()).toBeNull();
    const seen: unknown[] = [];
    unpackReports(batch, (...args) => seen.push(args));
    expect(seen).toEqual([
      [7, 'completed', 200, { samples: 1, mismatches: 1, primaryMs: 1.25, shadowMs: 3.5 }, mismatch],
      [8, 'timeout', 0, { shadowErrors: 1, primaryErrors: 0 }, undefined],
      [9, 'starved', 0, null, undefined],
      [2 ** 40, 'error', 0, { shadowErrors: 1 }, undefined],
    ]);
  });

  it('refuses a batch that is not whole reports, or an unknown outcome', () => {
    expect(() => unpackReports({ packed: new Float64Array(5), mismatches: [] }, () => {})).toThrow(/not a multiple of 14/);
    const bad = new Float64Array(14);
    bad[1] = 9;
    expect(() => unpackReports({ packed: bad, mismatches: [] }, () => {})).toThrow(/outcome code 9/);
  });
});
