import { parsePayload, payloads } from './parity-exchange';
import type { ParityDelta } from '../parity/shadow-parity';

describe('parity counts between replicas (notification payloads)', () => {
  const delta = (i: number): ParityDelta => ({ route: `route-${i % 7}`, tenant: `tenant-${i % 13}`, atMs: 1_796_000_000_000 + i * 1000, counts: { samples: 3, mismatches: i % 2, primaryMs: 12.5 } });

  it('packs counts into notifications PostgreSQL takes (under 8000 bytes), and another replica reads back exactly what was sent', () => {
    const sent = Array.from({ length: 400 }, (_, i) => delta(i));
    const texts = payloads('replica-a', sent);
    expect(texts.length).toBeGreaterThan(1);
    for (const t of texts) expect(Buffer.byteLength(t)).toBeLessThan(8000);
    expect(texts.flatMap((t) => parsePayload(t, 'replica-b'))).toEqual(sent.map((d) => ({ ...d, atMs: Math.floor(d.atMs / 1000) * 1000 })));
    expect(payloads('replica-a', [])).toEqual([]);
    // Counted in bytes: tenants named in another script still fit.
    const wide = Array.from({ length: 300 }, (_, i) => ({ ...delta(i), tenant: `банк-${'ё'.repeat(20)}-${i}` }));
    for (const t of payloads('replica-a', wide)) expect(Buffer.byteLength(t)).toBeLessThan(8000);
  });

  it("skips the replica's own counts, and drops what is not counts: never adds a malformed or hostile entry", () => {
    const [text] = payloads('replica-a', [delta(1)]);
    expect(parsePayload(text!, 'replica-a')).toEqual([]);
    expect(parsePayload('not json', 'me')).toEqual([]);
    expect(parsePayload('{"r":"x"}', 'me')).toEqual([]);
    expect(parsePayload('null', 'me')).toEqual([]);
    const mixed = JSON.stringify({
      r: 'x',
      d: [
        ['rooms', 'acme', 1_796_000_000, { samples: 2 }],
        ['rooms', 'acme', 1_796_000_001, { samples: -5 }],
        ['rooms', 'acme', 1_796_000_002, { samples: 1, constructor: 1 }],
        ['rooms', 'acme', 'soon', { samples: 1 }],
        ['rooms', 7, 1_796_000_003, { samples: 1 }],
        ['rooms', 'acme', 1_796_000_004, { samples: 'many' }],
        ['rooms', 'acme', 1_796_000_005],
      ],
    });
    expect(parsePayload(mixed, 'me')).toEqual([{ route: 'rooms', tenant: 'acme', atMs: 1_796_000_000_000, counts: { samples: 2 } }]);
  });
});
