import { formatProjectionLag, type ProjectionLagRow } from './lag';

describe('formatProjectionLag', () => {
  it('prints one aligned row per partition: lag, the newest change applied, when and how long after its commit', () => {
    const rows: ProjectionLagRow[] = [
      { projection: 'messaging-mirror', tenant: 'acme', topic: 'acme.public.rooms', partition: 0, consumerLag: 0, lastSourceCommit: '2026-12-02T21:31:16.732Z', appliedAt: '2026-12-02T21:31:26.822Z', endToEndMs: 10090 },
      { projection: 'messaging-mirror', tenant: 'acme', topic: 'acme.strangler.cdc_heartbeat', partition: 0, consumerLag: 12, lastSourceCommit: null, appliedAt: '2026-12-02T21:31:34.873Z', endToEndMs: null },
    ];
    expect(formatProjectionLag(rows).split('\n')).toEqual([
      'PROJECTION        TOPIC                         PART  LAG  LAST SOURCE COMMIT        APPLIED AT                APPLIED AFTER',
      'messaging-mirror  acme.public.rooms             0     0    2026-12-02T21:31:16.732Z  2026-12-02T21:31:26.822Z  10090 ms',
      'messaging-mirror  acme.strangler.cdc_heartbeat  0     12   -                         2026-12-02T21:31:34.873Z  -',
    ]);
  });

  it('says so when nothing has been applied yet', () => {
    expect(formatProjectionLag([])).toMatch(/^no projection has applied an event here yet/);
  });
});
