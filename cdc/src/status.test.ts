import { formatStatus } from './status';

describe('formatStatus', () => {
  it('prints one row per connector with task states and retained WAL', () => {
    const text = formatStatus([
      {
        name: 'strangler-acme',
        tenant: 'acme',
        connectorState: 'RUNNING',
        tasks: [{ id: 0, state: 'RUNNING' }],
        slot: { name: 'strangler_acme', active: true, restartLsn: '0/1', confirmedFlushLsn: '0/1', retainedWalBytes: 3 * 1024 * 1024 },
      },
      { name: 'strangler-b', tenant: 'b', connectorState: 'RUNNING', tasks: [{ id: 0, state: 'FAILED', trace: 'org.postgresql.util.PSQLException: boom' }], slot: undefined },
    ]);
    expect(text.split('\n')).toEqual([
      'CONNECTOR       TENANT  STATE    TASKS      SLOT            SLOT ACTIVE  RETAINED WAL',
      'strangler-acme  acme    RUNNING  0:RUNNING  strangler_acme  yes          3.0 MiB',
      'strangler-b     b       RUNNING  0:FAILED   none            -            -',
      'strangler-b task 0: org.postgresql.util.PSQLException: boom',
    ]);
    expect(formatStatus([])).toBe('no connectors registered');
  });
});
