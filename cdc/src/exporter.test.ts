import { exposition, startCdcExporter } from './exporter';
import type { ConnectorReport } from './status';

const running: ConnectorReport = {
  name: 'strangler-acme',
  tenant: 'acme',
  connectorState: 'RUNNING',
  tasks: [{ id: 0, state: 'RUNNING', restarts: { count: 3, lastAt: '2026-12-08T03:00:00Z', cause: 'heartbeat table missing' } }],
  slot: { name: 'strangler_acme', active: true, restartLsn: '0/1', confirmedFlushLsn: '0/2', retainedWalBytes: 4096 },
  heartbeatAgeSeconds: 2.5,
};
const stopped: ConnectorReport = { name: 'strangler-globex', tenant: 'globex', connectorState: 'STOPPED', tasks: [], slot: undefined, slotError: 'database "monolith_globex" does not exist' };

describe('cdc exporter', () => {
  it('says each connector is running only when it and all its tasks are, and gives restarts, retained WAL and heartbeat age', () => {
    const text = exposition([running, stopped], [{ group: 'strangler-backsync-messaging', topic: 'svc.public.rooms', partition: 0, lag: 12 }]);
    expect(text).toContain('strangler_cdc_up 1');
    expect(text).toContain('strangler_cdc_connector_running{connector="strangler-acme",tenant="acme"} 1');
    expect(text).toContain('strangler_cdc_connector_running{connector="strangler-globex",tenant="globex"} 0');
    expect(text).toContain('strangler_cdc_connector_state{connector="strangler-globex",tenant="globex",state="STOPPED"} 1');
    expect(text).toContain('strangler_cdc_task_restarts{connector="strangler-acme",tenant="acme",task="0"} 3');
    expect(text).toContain('strangler_cdc_slot_retained_wal_bytes{connector="strangler-acme",tenant="acme",slot="strangler_acme"} 4096');
    expect(text).toContain('strangler_cdc_heartbeat_age_seconds{connector="strangler-acme",tenant="acme"} 2.5');
    expect(text).toContain('strangler_cdc_source_errors{connector="strangler-globex",tenant="globex"} 1');
    expect(text).toContain('strangler_kafka_consumer_group_lag{group="strangler-backsync-messaging",topic="svc.public.rooms",partition="0"} 12');
    // A running connector whose only task failed is not running.
    expect(exposition([{ ...running, tasks: [{ id: 0, state: 'FAILED' }] }])).toContain('strangler_cdc_connector_running{connector="strangler-acme",tenant="acme"} 0');
  });

  it('serves /metrics (strangler_cdc_up 0 with the reason when Connect does not answer), and JSON errors elsewhere', async () => {
    let fail = false;
    const exporter = await startCdcExporter(async () => {
      if (fail) throw new Error('connect ECONNREFUSED 127.0.0.1:18083');
      return [running];
    }, { port: 0, minIntervalMs: 0, groups: async () => { throw new Error('no broker'); } });
    try {
      const ok = await fetch(`${exporter.url}/metrics`);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
      const text = await ok.text();
      expect(text).toMatch(/^# consumer groups could not be read: no broker\n/);
      expect(text).toContain('strangler_cdc_connector_running{connector="strangler-acme",tenant="acme"} 1');
      fail = true;
      const down = await (await fetch(`${exporter.url}/metrics`)).text();
      expect(down).toMatch(/^# the last look failed: connect ECONNREFUSED/);
      expect(down).toContain('strangler_cdc_up 0');
      const missing = await fetch(`${exporter.url}/nope`);
      expect({ status: missing.status, body: await missing.json() }).toEqual({ status: 404, body: { error: { code: 'STR_ERR_CDC_EXPORTER_NOT_FOUND', message: 'no /nope: GET /metrics or /healthz' } } });
      const post = await fetch(`${exporter.url}/metrics`, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(((await post.json()) as { error: { code: string } }).error.code).toBe('STR_ERR_CDC_EXPORTER_METHOD');
    } finally {
      await exporter.close();
    }
  });
});
