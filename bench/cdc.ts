/**
 * CDC benchmark, part 1: replay throughput and memory.
 *
 * Method: a fresh tenant database seeded with N messages (default 1,000,000;
 * the generator, by COPY), one Debezium connector (initial snapshot) writing
 * them to <tenant>.public.messages; once the topic holds them all, a fresh
 * projector (the generic mirror, the one extracted/messaging uses) replays the
 * topic from the beginning into a fresh, migrated service database. Events/s
 * is applied events over the time from the projector's start to the last one
 * applied. RSS is sampled every 100 ms in this process (the projector runs
 * here); the peak up to 100k events and up to N is printed. Needs the stack
 * running (npm start). The last line of output is one JSON object.
 *
 * Not measured yet (issue 4 stays open): end-to-end latency at a steady
 * 2,000 writes/s and the highest write rate with bounded lag.
 *
 *   npm run bench:cdc [-- --messages 1000000]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import knexFactory from 'knex';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { ConnectClient, kafkaClients, mirrorProjection, Projector, readTableSpec, registerTenantConnector, removeTenantConnector } from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { generateTenantData } from '@strangler/monolith';
import { databaseUrl, loadStackConfig, readState, stackLayout } from '@strangler/stack';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000000' } } });
  const messages = Number(values.messages);
  const state = readState(stackLayout(loadStackConfig()));
  if (!state?.endpoints.postgresAdminUrl) throw new Error('start the stack first (npm start)');
  const { postgresAdminUrl: server, kafkaBootstrap, connectUrl } = state.endpoints;
  const tenant = `benchcdc_${process.pid}`;
  const admin = new Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${tenant}`);
  await admin.query(`CREATE DATABASE ${tenant}_svc`);
  const source = databaseUrl(server, tenant);
  const target = databaseUrl(server, `${tenant}_svc`);
  const connect = new ConnectClient(connectUrl);
  const kafka = new Kafka({ brokers: [kafkaBootstrap], logLevel: logLevel.NOTHING });
  const db = knexFactory({ client: 'pg', connection: target, pool: { min: 0, max: 8 } });
  try {
    await migrate('monolith', source);
    await migrate('monolith-cdc', source);
    await migrate('extracted', target);
    const seeded = await generateTenantData({ databaseUrl: source, messages, users: 1000 });
    console.log(`seeded ${seeded.messages} messages in ${(seeded.ms / 1000).toFixed(1)} s`);
    const pg = new URL(source);
    const t0 = Date.now();
    await registerTenantConnector(connect, { tenant, host: pg.hostname, port: Number(pg.port), database: tenant, user: 'postgres' });
    const topic = `${tenant}.public.messages`;
    const kadmin = kafka.admin();
    await kadmin.connect();
    for (;;) {
      const offsets = await kadmin.fetchTopicOffsets(topic).catch(() => []);
      const n = offsets.reduce((s, o) => s + Number(o.high), 0);
      if (n >= messages) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    await kadmin.disconnect();
    console.log(`Debezium snapshot of ${messages} messages into Kafka: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const table = await readTableSpec(source, 'public.messages', 'messages', [['room_id', 'id']]);
    const projector = new Projector(mirrorProjection('bench-mirror', [table], { tenants: [tenant] }), { kafka: kafkaClients([kafkaBootstrap], 'bench-cdc'), db, groupId: `${tenant}-replay` });
    let peak = process.memoryUsage().rss;
    let peakAt100k: number | null = null;
    const started = performance.now();
    await projector.start();
    let applied = 0;
    let done = 0;
    while (applied < messages) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, process.memoryUsage().rss);
      applied = projector.status().find((s) => s.topic === topic)?.applied ?? 0;
      if (peakAt100k === null && applied >= 100_000) peakAt100k = peak;
      done = performance.now();
    }
    const seconds = (done - started) / 1000;
    await projector.stop();
    const rows = Number((await db.raw('SELECT count(*) AS n FROM messages')).rows[0].n);
    const figures = {
      machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      events: applied,
      rowsInServiceDb: rows,
      replaySeconds: +seconds.toFixed(1),
      replayEventsPerSecond: Math.round(applied / seconds),
      peakRssMbAt100k: peakAt100k === null ? null : Math.round(peakAt100k / 2 ** 20),
      peakRssMbAt1M: Math.round(peak / 2 ** 20),
      e2eP50Ms: null,
      e2eP99Ms: null,
      highestBoundedWriteRate: null,
    };
    console.log(`replayed ${applied} events in ${figures.replaySeconds} s: ${figures.replayEventsPerSecond} events/s (target >= 50,000); peak RSS ${figures.peakRssMbAt100k} MiB at 100k, ${figures.peakRssMbAt1M} MiB at the end`);
    console.log(JSON.stringify(figures));
  } finally {
    await db.destroy();
    await removeTenantConnector(connect, tenant, source).catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${tenant} WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS ${tenant}_svc WITH (FORCE)`);
    await admin.end();
    const ka = kafka.admin();
    await ka.connect();
    const topics = (await ka.listTopics()).filter((t) => t.startsWith(`${tenant}.`));
    if (topics.length) await ka.deleteTopics({ topics });
    await ka.disconnect();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
