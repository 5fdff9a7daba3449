import { freshnessReport, lsnText, lsnValue } from './freshness';
import type { PartitionLag } from './runtime';

const at = new Date('2026-12-02T10:00:00Z');
const part = (tenant: string, table: string, consumerLag: number, behindMs: number, sourceTs: number | null = null, snapshot: string | null = null, sourceLsn: bigint | null = null): PartitionLag => ({
  topic: `${tenant}.${table}`,
  partition: 0,
  tenant,
  consumerLag,
  endToEndMs: null,
  sourceTs,
  sourceLsn,
  snapshot,
  applied: 0,
  deadLettered: 0,
  behindMs,
});

describe('freshnessReport', () => {
  it('gives each tenant its oldest pending event over its partitions and the sum of what is pending', () => {
    expect(freshnessReport([part('globex', 'public.rooms', 0, 0), part('acme', 'public.rooms', 3, 120), part('acme', 'public.messages', 40, 2500), part('globex', 'public.messages', 0, 0)], { now: at })).toEqual({
      at: '2026-12-02T10:00:00.000Z',
      tenants: [
        // Nothing applied yet, events waiting: its copy is not whole either.
        { tenant: 'acme', behindMs: 2500, pending: 43, loading: true, appliedThrough: null, appliedLsn: null, heartbeatAt: null },
        { tenant: 'globex', behindMs: 0, pending: 0, loading: false, appliedThrough: null, appliedLsn: null, heartbeatAt: null },
      ],
    });
    expect(freshnessReport([], { now: at })).toEqual({ at: '2026-12-02T10:00:00.000Z', tenants: [] });
  });

  it('counts a heartbeat older than one interval as the capture stalling, whatever the tables say', () => {
    const beat = (ageMs: number) => part('acme', 'strangler.cdc_heartbeat', 0, 0, at.getTime() - ageMs);
    // Within an interval (5 s): nothing is known to be missing.
    expect(freshnessReport([part('acme', 'public.rooms', 0, 0), beat(4_000)], { now: at }).tenants).toEqual([{ tenant: 'acme', behindMs: 0, pending: 0, loading: false, appliedThrough: '2026-12-02T09:59:56.000Z', appliedLsn: null, heartbeatAt: '2026-12-02T09:59:56.000Z' }]);
    // 65 s without a heartbeat: changes up to 60 s old may be missing.
    expect(freshnessReport([part('acme', 'public.rooms', 0, 0), beat(65_000)], { now: at }).tenants[0]).toMatchObject({ behindMs: 60_000 });
    // The larger of the two bounds.
    expect(freshnessReport([part('acme', 'public.rooms', 9, 90_000), beat(65_000)], { now: at }).tenants[0]).toMatchObject({ behindMs: 90_000, pending: 9 });
    expect(freshnessReport([beat(10_000)], { now: at, heartbeatIntervalMs: 1_000 }).tenants[0]).toMatchObject({ behindMs: 9_000 });
  });

  it("says a tenant is loading while its initial snapshot is applied, until something from after the snapshot is", () => {
    const t0 = at.getTime() - 60_000;
    const loading = (...parts: PartitionLag[]) => freshnessReport(parts, { now: at }).tenants.map((t) => [t.tenant, t.loading]);
    // Nothing applied yet: loading while events wait (a topic just found), not when there are none.
    expect(loading(part('acme', 'public.rooms', 5, 0))).toEqual([['acme', true]]);
    expect(loading(part('acme', 'public.rooms', 0, 0))).toEqual([['acme', false]]);
    // Applied before this bookkeeping (no snapshot marker kept): nothing is known to be missing.
    expect(loading(part('acme', 'public.rooms', 5, 0, t0))).toEqual([['acme', false]]);
    // Rooms done (its last record), messages half way: loading, even with nothing pending.
    expect(loading(part('acme', 'public.rooms', 0, 0, t0, 'last_in_data_collection'), part('acme', 'public.messages', 0, 0, t0 + 10, 'true'))).toEqual([['acme', true]]);
    // A single-row first table ends with `first`, and the snapshot's `last` record may be on a table not read here.
    expect(loading(part('acme', 'public.rooms', 0, 0, t0, 'first'))).toEqual([['acme', true]]);
    // The snapshot's last record, a heartbeat or a streamed change after it ends it; another tenant is judged apart.
    expect(loading(part('acme', 'public.rooms', 0, 0, t0, 'true'), part('acme', 'public.messages', 0, 0, t0, 'last'))).toEqual([['acme', false]]);
    expect(loading(part('acme', 'public.rooms', 0, 0, t0, 'first'), part('acme', 'strangler.cdc_heartbeat', 0, 0, t0 + 5_000, 'false'), part('globex', 'public.rooms', 0, 0, t0, 'true'))).toEqual([
      ['acme', false],
      ['globex', true],
    ]);
    expect(loading(part('acme', 'public.rooms', 0, 0, t0, 'last_in_data_collection'), part('acme', 'public.messages', 0, 0, t0 + 1, 'false'))).toEqual([['acme', false]]);
    // A partition with more of the snapshot waiting is loading, though the heartbeat (another partition) came through first.
    expect(loading(part('acme', 'public.messages', 800, 40, t0, 'true'), part('acme', 'strangler.cdc_heartbeat', 0, 0, t0 + 5_000, 'false'))).toEqual([['acme', true]]);
    // A streamed change older than the snapshot's records (a re-snapshot after it) does not end the new snapshot.
    expect(loading(part('acme', 'public.rooms', 0, 0, t0, 'false'), part('acme', 'public.messages', 0, 0, t0 + 1, 'true'))).toEqual([['acme', true]]);
    // An incremental snapshot runs beside the stream: the copy is complete apart from what it re-reads.
    expect(loading(part('acme', 'public.rooms', 0, 0, t0, 'incremental'))).toEqual([['acme', false]]);
  });

  it('says before which source time every change of a tenant is applied: the newest applied, held back by a partition with events waiting', () => {
    const t0 = at.getTime() - 60_000;
    const through = (...parts: PartitionLag[]) => freshnessReport(parts, { now: at }).tenants.map((t) => [t.tenant, t.appliedThrough === null ? null : Date.parse(t.appliedThrough) - t0]);
    // Caught up everywhere: the newest source time applied, a heartbeat's included.
    expect(through(part('acme', 'public.rooms', 0, 0, t0 + 10), part('acme', 'public.messages', 0, 0, t0 + 30), part('acme', 'strangler.cdc_heartbeat', 0, 0, t0 + 20))).toEqual([['acme', 30]]);
    // Messages has events waiting: they came after its newest applied (t0 + 5), whatever the other tables have applied.
    expect(through(part('acme', 'public.rooms', 0, 0, t0 + 10), part('acme', 'public.messages', 4, 100, t0 + 5), part('acme', 'strangler.cdc_heartbeat', 0, 0, t0 + 20))).toEqual([['acme', 5]]);
    // Waiting with nothing applied yet on that partition, nothing applied at all, or loading: not known.
    expect(through(part('acme', 'public.rooms', 0, 0, t0 + 10), part('acme', 'public.messages', 4, 100))).toEqual([['acme', null]]);
    expect(through(part('acme', 'public.rooms', 0, 0))).toEqual([['acme', null]]);
    expect(through(part('acme', 'public.rooms', 0, 0, t0, 'true'))).toEqual([['acme', null]]);
    // Each tenant apart.
    expect(through(part('acme', 'public.rooms', 0, 0, t0 + 10), part('globex', 'public.rooms', 2, 50, t0 + 7))).toEqual([['acme', 10], ['globex', 7]]);
  });

  it('says through which WAL position every change of a tenant is applied: the newest any partition went through, bounded by a partition with events waiting', () => {
    const lsn = (t: string) => lsnValue(t);
    // Caught up everywhere: the newest position (a heartbeat moves it when no table changes).
    expect(freshnessReport([part('acme', 'public.rooms', 0, 0, 1, 'false', lsn('0/1000')), part('acme', 'strangler.cdc_heartbeat', 0, 0, 2, 'false', lsn('0/2F00'))], { now: at }).tenants[0]!.appliedLsn).toBe('0/2F00');
    // Events waiting on rooms: nothing past what rooms went through is known to be applied.
    expect(freshnessReport([part('acme', 'public.rooms', 4, 10, 1, 'false', lsn('0/1000')), part('acme', 'strangler.cdc_heartbeat', 0, 0, 2, 'false', lsn('0/2F00'))], { now: at }).tenants[0]!.appliedLsn).toBe('0/1000');
    // A partition with events waiting that went through nothing yet: not known.
    expect(freshnessReport([part('acme', 'public.rooms', 4, 10, 1, 'false', null), part('acme', 'public.messages', 0, 0, 2, 'false', lsn('0/2F00'))], { now: at }).tenants[0]!.appliedLsn).toBeNull();
    expect(lsnText(lsn('16/B374D848'))).toBe('16/B374D848');
    expect(() => lsnValue('nope')).toThrow(/not a WAL position/);
  });
});
