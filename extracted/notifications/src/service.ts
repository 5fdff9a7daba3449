import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Kafka, logLevel, type Consumer, type EachBatchPayload } from 'kafkajs';
import knexFactory, { type Knex } from 'knex';
import { migrate } from '@strangler/migrations';
import { loadEventContracts } from './contracts';

export interface NotificationsOptions {
  readonly databaseUrl: string;
  readonly brokers: readonly string[];
  /** The event topics it reads (`<service>.events.<aggregate>`); made when missing, read from their start. */
  readonly topics: readonly string[];
  /** Its name in the inbox (and its consumer group: strangler-<name>). @default 'notifications' */
  readonly name?: string;
  readonly port: number;
  readonly host?: string;
  /** An event whose contract it does not know, or whose payload breaks it: skipped, said here. */
  readonly onRejected?: (reason: string, at: { topic: string; partition: number; offset: string }) => void;
}

export interface RunningNotifications {
  readonly url: string;
  /** Events kept, and rejected, since start. */
  readonly counts: { kept: number; duplicates: number; rejected: number };
  stop(): Promise<void>;
}

const text = (v: Buffer | string | (Buffer | string)[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? String(v[0]) : String(v));

/**
 * A consumer of domain events only: it reads the event topics (never a
 * service's tables), checks each event against its contract
 * (contracts/events), and keeps it once in its inbox (the event id is the
 * key: a redelivery after a crash or a rebalance has no second effect), then
 * commits its offset. GET /notifications?tenant=&limit= lists what it kept.
 */
export async function startNotifications(o: NotificationsOptions): Promise<RunningNotifications> {
  const name = o.name ?? 'notifications';
  await migrate('extracted', o.databaseUrl);
  const db: Knex = knexFactory({ client: 'pg', connection: o.databaseUrl, pool: { min: 0, max: 4 } });
  const contracts = loadEventContracts();
  const counts = { kept: 0, duplicates: 0, rejected: 0 };
  const kafka = new Kafka({ clientId: `strangler-${name}`, brokers: [...o.brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = o.topics.filter((t) => !existing.has(t));
    if (missing.length) await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
  const consumer: Consumer = kafka.consumer({ groupId: `strangler-${name}`, sessionTimeout: 10_000, heartbeatInterval: 2_000, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [...o.topics], fromBeginning: true });
  const batch = async ({ batch: b, resolveOffset, heartbeat }: EachBatchPayload) => {
    for (const m of b.messages) {
      const at = { topic: b.topic, partition: b.partition, offset: m.offset };
      const id = text(m.headers?.id);
      const type = text(m.headers?.eventType);
      const version = text(m.headers?.eventVersion);
      const tenant = text(m.headers?.tenant);
      const contract = type && version ? contracts.get(`${type}@${version}`) : undefined;
      let payload: unknown;
      try {
        payload = m.value === null ? null : JSON.parse(m.value.toString());
      } catch {
        payload = undefined;
      }
      const reason = !id || !type || !version || !tenant ? 'headers id, eventType, eventVersion and tenant are required' : !contract ? `no contract for ${type} version ${version}` : !contract.validate(payload) ? `payload breaks ${type} v${version}: ${contract.validate.errors?.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}` : null;
      if (reason !== null) {
        counts.rejected++;
        o.onRejected?.(reason, at);
      } else {
        const r = await db.raw(
          `INSERT INTO inbox (consumer, event_id, topic, kafka_partition, kafka_offset, type, version, tenant, aggregate_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (consumer, event_id) DO NOTHING`,
          [name, id!, b.topic, b.partition, m.offset, type!, Number(version), tenant!, m.key?.toString() ?? '', JSON.stringify(payload)],
        );
        if ((r.rowCount ?? 0) > 0) counts.kept++;
        else counts.duplicates++;
      }
      resolveOffset(m.offset);
      await heartbeat();
    }
    // Kept first, then committed (autoCommit is off: commitOffsetsIfNecessary would commit nothing): a crash between the two redelivers what the inbox already holds.
    const last = b.messages.at(-1);
    if (last) await consumer.commitOffsets([{ topic: b.topic, partition: b.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
  };
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: batch });

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok', ...counts }));
  app.get('/notifications', async (req, res) => {
    const tenant = typeof req.query.tenant === 'string' ? req.query.tenant : null;
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
    const q = db('inbox').where({ consumer: name }).orderBy('received_at', 'desc').limit(limit);
    if (tenant) q.andWhere({ tenant });
    const rows = await q.select('event_id', 'type', 'version', 'tenant', 'aggregate_id', 'topic', 'payload', 'received_at');
    res.json({ data: rows.map((r) => ({ id: r.event_id, type: r.type, version: r.version, tenant: r.tenant, aggregateId: r.aggregate_id, topic: r.topic, payload: r.payload, receivedAt: new Date(r.received_at).toISOString() })) });
  });
  app.use((req, res) => void res.status(404).json({ error: { code: 'route_not_found', message: `no route for ${req.method} ${req.path}: GET /notifications?tenant=&limit= or /healthz` } }));
  // node:http's own listen: express 5's app.listen calls its callback with a listen error (a taken port), which resolved with no address.
  const server: Server = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await consumer.disconnect().catch(() => undefined);
    await db.destroy();
    throw err;
  }
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.address}:${a.port}`,
    counts,
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      await consumer.disconnect().catch(() => undefined);
      await db.destroy();
    },
  };
}
