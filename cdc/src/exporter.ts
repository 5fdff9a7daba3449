import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Admin } from 'kafkajs';
import type { ConnectorReport } from './status';

/** One partition of a consumer group: how many messages it has not committed past. */
export interface GroupLag {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly lag: number;
}

/**
 * Every consumer group's lag per partition it has committed on: the
 * partition's end offset minus the group's committed offset (from the log's
 * start when it committed nothing there yet). Projections, back-sync and any
 * other consumer of the cluster alike.
 */
export async function consumerGroupLag(admin: Admin): Promise<GroupLag[]> {
  const { groups } = await admin.listGroups();
  const ends = new Map<string, Map<number, { high: number; low: number }>>();
  const end = async (topic: string) => {
    let m = ends.get(topic);
    if (!m) {
      m = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, { high: Number(p.high), low: Number(p.low) }]));
      ends.set(topic, m);
    }
    return m;
  };
  const out: GroupLag[] = [];
  for (const g of groups) {
    if (g.protocolType !== 'consumer' && g.protocolType !== '') continue;
    for (const t of await admin.fetchOffsets({ groupId: g.groupId })) {
      const e = await end(t.topic).catch(() => null);
      if (e === null) continue;
      for (const p of t.partitions) {
        const o = e.get(p.partition);
        if (!o) continue;
        const committed = Number(p.offset);
        out.push({ group: g.groupId, topic: t.topic, partition: p.partition, lag: Math.max(0, o.high - (committed < 0 ? o.low : committed)) });
      }
    }
  }
  return out;
}

/**
 * What `strangler cdc exporter` serves on /metrics for Prometheus: the
 * capture's health as Kafka Connect's REST API, Connect's log and each
 * source database see it (cdcStatus), which Connect's own JMX metrics do not
 * say: a connector that was stopped (its MBeans are gone), a task that keeps
 * restarting while it reads RUNNING, the WAL a replication slot holds back,
 * and the age of the heartbeat the connector writes into its database.
 */
export function exposition(reports: readonly ConnectorReport[] | null, groups: readonly GroupLag[] | null = null): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string, rows: ReadonlyArray<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) out.push(`${name}${labelText(labels)} ${Number.isFinite(value) ? value : 'NaN'}`);
  };
  family('strangler_cdc_up', 'gauge', '1 when the last look at Kafka Connect answered, else 0', [[{}, reports === null ? 0 : 1]]);
  const rs = reports ?? [];
  const who = (r: ConnectorReport) => ({ connector: r.name, tenant: r.tenant ?? '' });
  family('strangler_cdc_connector_state', 'gauge', "1 for each connector's current state as Connect's REST API gives it (RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING)", rs.map((r) => [{ ...who(r), state: r.connectorState }, 1]));
  family(
    'strangler_cdc_connector_running',
    'gauge',
    'Per connector: 1 when it and every one of its tasks (at least one) are RUNNING, else 0 (stopped, paused, failed, unassigned, or no task)',
    rs.map((r) => [who(r), r.connectorState === 'RUNNING' && r.tasks.length > 0 && r.tasks.every((t) => t.state === 'RUNNING') ? 1 : 0]),
  );
  family('strangler_cdc_task_state', 'gauge', "1 for each task's current state", rs.flatMap((r) => r.tasks.map((t): [Record<string, string>, number] => [{ ...who(r), task: String(t.id), state: t.state }, 1])));
  family(
    'strangler_cdc_task_restarts',
    'gauge',
    "Restarts of each task over the last 10 minutes, read from Connect's log (a task that keeps failing with a retriable error reads RUNNING between them); 0 when the log is not read",
    rs.flatMap((r) => r.tasks.map((t): [Record<string, string>, number] => [{ ...who(r), task: String(t.id) }, t.restarts?.count ?? 0])),
  );
  const slots = rs.filter((r) => r.slot !== undefined);
  family('strangler_cdc_slot_retained_wal_bytes', 'gauge', "WAL the source server keeps for the connector's replication slot (current LSN minus the slot's restart LSN)", slots.map((r) => [{ ...who(r), slot: r.slot!.name }, r.slot!.retainedWalBytes ?? NaN]));
  family('strangler_cdc_slot_active', 'gauge', '1 while a connector streams from the slot, else 0', slots.map((r) => [{ ...who(r), slot: r.slot!.name }, r.slot!.active ? 1 : 0]));
  family(
    'strangler_cdc_heartbeat_age_seconds',
    'gauge',
    "Seconds since the connector's heartbeat action query last wrote its database (strangler.cdc_heartbeat): capture is stalled when this grows past a few heartbeat intervals",
    rs.filter((r) => r.heartbeatAgeSeconds !== undefined).map((r) => [who(r), r.heartbeatAgeSeconds ?? NaN]),
  );
  if (groups !== null) {
    family('strangler_kafka_consumer_group_lag', 'gauge', "Per consumer group, topic and partition: messages past the group's committed offset (what it has yet to process)", groups.map((g) => [{ group: g.group, topic: g.topic, partition: String(g.partition) }, g.lag]));
  }
  family('strangler_cdc_source_errors', 'gauge', "1 for each connector whose source database could not be read (slot and heartbeat unknown)", rs.filter((r) => r.slotError !== undefined).map((r) => [who(r), 1]));
  return `${out.join('\n')}\n`;
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

export interface CdcExporter {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves /metrics (one look per scrape, shared by scrapes within
 * `minIntervalMs`) and /healthz. A look that fails answers strangler_cdc_up 0
 * and the reason in a comment, never an error page: Prometheus keeps the
 * target up and the alert on strangler_cdc_up says why.
 */
export async function startCdcExporter(
  look: () => Promise<ConnectorReport[]>,
  options: { port: number; host?: string; minIntervalMs?: number; groups?: () => Promise<GroupLag[]> },
): Promise<CdcExporter> {
  let last: { at: number; text: Promise<string> } | null = null;
  const scrape = () => {
    if (last !== null && Date.now() - last.at < (options.minIntervalMs ?? 2000)) return last.text;
    // Consumer groups are read apart: a broker that does not answer leaves the connectors' figures whole.
    const groups = options.groups ? options.groups().catch((err: Error) => err) : Promise.resolve(null);
    const text = Promise.all([look(), groups]).then(
      ([reports, g]) => (g instanceof Error ? `# consumer groups could not be read: ${g.message.replace(/\n/g, ' ')}\n` : '') + exposition(reports, g instanceof Error ? null : g),
      (err: Error) => `# the last look failed: ${err.message.replace(/\n/g, ' ')}\n${exposition(null)}`,
    );
    last = { at: Date.now(), text };
    return text;
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' }).end(JSON.stringify({ error: { code: 'STR_ERR_CDC_EXPORTER_METHOD', message: 'GET /metrics or /healthz' } }));
      return;
    }
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'STR_ERR_CDC_EXPORTER_NOT_FOUND', message: `no ${path}: GET /metrics or /healthz` } }));
      return;
    }
    scrape().then((text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.address}:${a.port}`,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
