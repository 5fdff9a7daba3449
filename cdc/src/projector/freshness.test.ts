import { freshnessReport } from './freshness';
import type { PartitionLag } from './runtime';

const at = new Date('2026-12-02T10:00:00Z');
const part = (tenant: string, table: string, consumerLag: number, behindMs: number, sourceTs: number | null = null): PartitionLag => ({
  topic: `${tenant}.${table}`,
  partition: 0,
  tenant,
  consumerLag,
  endToEndMs: null,
  sourceTs,
  applied: 0,
  deadLettered: 0,
  behindMs,
});

describe('freshnessReport', () => {
  it('gives each tenant its oldest pending event over its partitions and the sum of what is pending', () => {
    expect(freshnessReport([part('globex', 'public.rooms', 0, 0), part('acme', 'public.rooms', 3, 120), part('acme', 'public.messages', 40, 2500), part('globex', 'public.messages', 0, 0)], { now: at })).toEqual({
      at: '2026-12-02T10:00:00.000Z',
      tenants: [
        { tenant: 'acme', behindMs: 2500, pending: 43, heartbeatAt: null },
        { tenant: 'globex', behindMs: 0, pending: 0, heartbeatAt: null },
      ],
    });
    expect(freshnessReport([], { now: at })).toEqual({ at: '2026-12-02T10:00:00.000Z', tenants: [] });
  });

  it('counts a heartbeat older than one interval as the capture stalling, whatever the tables say', () => {
    const beat = (ageMs: number) => part('acme', 'strangler.cdc_heartbeat', 0, 0, at.getTime() - ageMs);
    // Within an interval (5 s): nothing is known to be missing.
    expect(freshnessReport([part('acme', 'public.rooms', 0, 0), beat(4_000)], { now: at }).tenants).toEqual([{ tenant: 'acme', behindMs: 0, pending: 0, heartbeatAt: '2026-12-02T09:59:56.000Z' }]);
    // 65 s without a heartbeat: changes up to 60 s old may be missing.
    expect(freshnessReport([part('acme', 'public.rooms', 0, 0), beat(65_000)], { now: at }).tenants[0]).toMatchObject({ behindMs: 60_000 });
    // The larger of the two bounds.
    expect(freshnessReport([part('acme', 'public.rooms', 9, 90_000), beat(65_000)], { now: at }).tenants[0]).toMatchObject({ behindMs: 90_000, pending: 9 });
    expect(freshnessReport([beat(10_000)], { now: at, heartbeatIntervalMs: 1_000 }).tenants[0]).toMatchObject({ behindMs: 9_000 });
  });
});
