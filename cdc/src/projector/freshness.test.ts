import { freshnessReport } from './freshness';
import type { PartitionLag } from './runtime';

const part = (tenant: string, topic: string, consumerLag: number, behindMs: number): PartitionLag => ({ topic: `${tenant}.public.${topic}`, partition: 0, tenant, consumerLag, endToEndMs: null, applied: 0, deadLettered: 0, behindMs });

describe('freshnessReport', () => {
  it('gives each tenant its oldest pending event over its partitions and the sum of what is pending', () => {
    const at = new Date('2026-12-02T10:00:00Z');
    expect(freshnessReport([part('globex', 'rooms', 0, 0), part('acme', 'rooms', 3, 120), part('acme', 'messages', 40, 2500), part('globex', 'messages', 0, 0)], at)).toEqual({
      at: '2026-12-02T10:00:00.000Z',
      tenants: [
        { tenant: 'acme', behindMs: 2500, pending: 43 },
        { tenant: 'globex', behindMs: 0, pending: 0 },
      ],
    });
    expect(freshnessReport([], at)).toEqual({ at: '2026-12-02T10:00:00.000Z', tenants: [] });
  });
});
