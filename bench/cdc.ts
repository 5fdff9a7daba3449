/**
 * CDC benchmark: replay throughput and memory, end-to-end latency, and the
 * highest write rate at which lag stays bounded. Needs the stack running
 * (npm start). The last line of output is one JSON object with every figure.
 *
 * Replay: a fresh tenant database seeded with N messages (default 1,000,000,
 * by COPY), one Debezium connector (initial snapshot) writing them to
 * <tenant>.public.messages; once the topic holds them all, a fresh projector
 * (the generic mirror extracted/messaging uses) replays the topic from the
 * beginning into a fresh service database. Events/s is applied events over the
 * time from the projector's start to the last one applied. RSS of this process
 * (the projector runs here) is sampled every 100 ms; the peak up to 100k
 * events and up to N is printed.
 *
 * Latency: another fresh tenant, its connector streaming, and a projector
 * mirroring its messages; a writer in its own process (bench/cdc-writer.ts)
 * inserts messages at a steady rate. Latency of an event = the time its
 * projector transaction committed minus its source commit time (Debezium's
 * source.ts_ms; one clock, one machine). First a warm-up, printed but not
 * counted: 2,000 writes/s for 10 s, until all of it is applied (the consumer
 * group's join, the first fetches and Kafka Connect's JIT on the connector's
 * first streaming are behind it); then 2,000 writes/s for --latency-seconds
 * (the first 2 s not counted either) gives p50 and p99.
 *
 * Bounded rate: the writer then runs --step-seconds at each rate of --steps.
 * A step is bounded when the writer achieved at least 95 % of the rate and
 * the p99 latency of the events written in the step's last third is at most
 * 1 s (a queue that keeps growing shows there first). The highest bounded
 * achieved rate is reported; the steps stop at the first unbounded one.
 *
 *   npm run bench:cdc [-- --messages 1000000 --steps 2000,4000,6000,8000 --skip-replay --skip-latency]
 *   --keep leaves the replay's topic and databases; --reuse <tenant> replays them again (no seeding, no snapshot).
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import knexFactory from 'knex';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import {
  ConnectClient,
  kafkaClients,
  mirrorProjection,
  Projector,
  readTableSpec,
  registerTenantConnector,
  removeTenantConnector,
  waitUntilStreaming,
  type ChangeEvent,
} from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { generateTenantData } from '@strangler/monolith';
import { databaseUrl, loadStackConfig, readState, stackLayout } from '@strangler/stack';

interface Env {
  readonly server: string;
  readonly kafkaBootstrap: string;
  readonly connect: ConnectClient;
  readonly kafka: Kafka;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '1000000' },
      'latency-seconds': { type: 'string', default: '20' },
      steps: { type: 'string', default: '2000,4000,6000,8000,10000' },
      'step-seconds': { type: 'string', default: '15' },
      'skip-replay': { type: 'boolean', default: false },
      'skip-latency': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      reuse: { type: 'string' },
    },
  });
  const state = readState(stackLayout(loadStackConfig()));
  if (!state?.endpoints.postgresAdminUrl) throw new Error('start the stack first (npm start)');
  const env: Env = {
    server: state.endpoints.postgresAdminUrl,
    kafkaBootstrap: state.endpoints.kafkaBootstrap,
    connect: new ConnectClient(state.endpoints.connectUrl),
    kafka: new Kafka({ brokers: [state.endpoints.kafkaBootstrap], logLevel: logLevel.NOTHING }),
  };
  const replay = values['skip-replay'] ? null : await replayPhase(env, Number(values.messages), values.reuse, values.keep);
  const latency = values['skip-latency'] ? { p50: null, p99: null, highestBounded: null, steps: [] } : await latencyPhase(env, Number(values['latency-seconds']), values.steps.split(',').map(Number), Number(values['step-seconds']));
  const figures = {
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    replayEvents: replay?.events ?? null,
    replayEventsPerSecond: replay?.eventsPerSecond ?? null,
    peakRssMbAt100k: replay?.peakRssMbAt100k ?? null,
    peakRssMbAtEnd: replay?.peakRssMbAtEnd ?? null,
    kafkajsAloneEventsPerSecond: replay?.kafkajsAloneEventsPerSecond ?? null,
    e2eP50Ms: latency.p50,
    e2eP99Ms: latency.p99,
    highestBoundedWriteRate: latency.highestBounded,
    steps: latency.steps,
  };
  console.log(JSON.stringify(figures));
}

/** A bench tenant: its monolith database, its connector, its service database; dropped at the end. */
async function benchTenant(env: Env, name: string, seed: { messages: number; users: number } | null) {
  const admin = new Client({ connectionString: env.server });
  await admin.connect();
  const source = databaseUrl(env.server, name);
  const target = databaseUrl(env.server, `${name}_svc`);
  if (seed) {
    await admin.query(`CREATE DATABASE ${name}`);
    await migrate('monolith', source);
    await migrate('monolith-cdc', source);
    const seeded = await generateTenantData({ databaseUrl: source, messages: seed.messages, users: seed.users });
    console.log(`${name}: seeded ${seeded.messages} messages in ${(seeded.ms / 1000).toFixed(1)} s`);
    const pg = new URL(source);
    await registerTenantConnector(env.connect, { tenant: name, host: pg.hostname, port: Number(pg.port), database: name, user: 'postgres' });
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name}_svc WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}_svc`);
  await migrate('extracted', target);
  const db = knexFactory({ client: 'pg', connection: target, pool: { min: 0, max: 8 } });
  const table = await readTableSpec(source, 'public.messages', 'messages', { indexes: [['room_id', 'id']] });
  return {
    source,
    db,
    topic: `${name}.public.messages`,
    projector: (onApplied?: (events: readonly ChangeEvent[], at: number) => void) =>
      new Projector(mirrorProjection(`bench-${name}`, [table], { tenants: [name] }), {
        kafka: kafkaClients([env.kafkaBootstrap], 'bench-cdc'),
        db,
        groupId: `${name}-bench-${process.pid}`,
        ...(onApplied ? { onApplied } : {}),
      }),
    async drop(keep: boolean) {
      await db.destroy();
      if (keep) {
        console.log(`kept: npm run bench:cdc -- --reuse ${name} --messages ${seed?.messages ?? ''}`);
      } else {
        await removeTenantConnector(env.connect, name, source).catch(() => {});
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.query(`DROP DATABASE IF EXISTS ${name}_svc WITH (FORCE)`);
        const ka = env.kafka.admin();
        await ka.connect();
        const topics = (await ka.listTopics()).filter((t) => t.startsWith(`${name}.`));
        if (topics.length) await ka.deleteTopics({ topics });
        await ka.disconnect();
      }
      await admin.end();
    },
  };
}

async function replayPhase(env: Env, messages: number, reuse: string | undefined, keep: boolean) {
  const name = reuse ?? `benchcdc_${process.pid}`;
  const t0 = Date.now();
  const t = await benchTenant(env, name, reuse ? null : { messages, users: 1000 });
  try {
    const kadmin = env.kafka.admin();
    await kadmin.connect();
    for (;;) {
      const offsets = await kadmin.fetchTopicOffsets(t.topic).catch(() => []);
      if (offsets.reduce((s, o) => s + Number(o.high), 0) >= messages) break;
      await sleep(1000);
    }
    await kadmin.disconnect();
    if (!reuse) console.log(`Debezium snapshot of ${messages} messages into Kafka: ${((Date.now() - t0) / 1000).toFixed(1)} s (seeding included)`);

    const projector = t.projector();
    let peak = process.memoryUsage().rss;
    let peakAt100k: number | null = null;
    const started = performance.now();
    await projector.start();
    let applied = 0;
    let done = started;
    while (applied < messages) {
      await sleep(100);
      peak = Math.max(peak, process.memoryUsage().rss);
      applied = projector.status().find((s) => s.topic === t.topic)?.applied ?? 0;
      if (peakAt100k === null && applied >= 100_000) peakAt100k = peak;
      done = performance.now();
    }
    await projector.stop();
    const seconds = (done - started) / 1000;
    const rows = Number((await t.db.raw('SELECT count(*) AS n FROM messages')).rows[0].n);
    if (rows !== messages) throw new Error(`replay left ${rows} rows, expected ${messages}`);
    const result = {
      events: applied,
      eventsPerSecond: Math.round(applied / seconds),
      peakRssMbAt100k: peakAt100k === null ? null : Math.round(peakAt100k / 2 ** 20),
      peakRssMbAtEnd: Math.round(peak / 2 ** 20),
    };
    console.log(`replay: ${applied} events in ${seconds.toFixed(1)} s: ${result.eventsPerSecond} events/s (target >= 50,000); peak RSS ${result.peakRssMbAt100k} MiB at 100k, ${result.peakRssMbAtEnd} MiB at the end`);
    const ceiling = await kafkajsAlone(env, t.topic, messages);
    console.log(`kafkajs alone (the same consumer settings, each batch only counted, no decoding, no database): ${ceiling} events/s`);
    return { ...result, kafkajsAloneEventsPerSecond: ceiling };
  } finally {
    await t.drop(keep);
  }
}

/**
 * The client's own ceiling: the topic read from the beginning by a consumer
 * with the projector's settings (kafkaClients) whose eachBatch only counts.
 */
async function kafkajsAlone(env: Env, topic: string, messages: number): Promise<number> {
  const consumer = kafkaClients([env.kafkaBootstrap], 'bench-cdc-ceiling').consumer(`bench-cdc-ceiling-${process.pid}`);
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  const finished = new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= messages) resolve(performance.now());
      },
    });
  });
  const started = performance.now();
  const end = await finished;
  await consumer.disconnect();
  const admin = env.kafka.admin();
  await admin.connect();
  await admin.deleteGroups([`bench-cdc-ceiling-${process.pid}`]).catch(() => undefined);
  await admin.disconnect();
  return Math.round(messages / ((end - started) / 1000));
}

interface Step {
  readonly target: number;
  readonly achieved: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly bounded: boolean;
}

async function latencyPhase(env: Env, latencySeconds: number, steps: readonly number[], stepSeconds: number) {
  const name = `benchlat_${process.pid}`;
  const t = await benchTenant(env, name, { messages: 0, users: 10 });
  // [source commit ms, applied ms] of each message created.
  const samples: Array<readonly [number, number]> = [];
  const projector = t.projector((events, at) => {
    for (const e of events) if (e.op === 'c') samples.push([e.source.tsMs, at]);
  });
  try {
    await waitUntilStreaming(env.connect, name, t.source);
    await projector.start();
    const window = (from: number, to: number) => samples.filter(([ts]) => ts >= from && ts < to).map(([ts, at]) => at - ts);
    // Warm before the clock starts: 10 s at the measured rate, then until all of it is applied. A cold
    // path (the projector's group joining, Kafka Connect's JIT on a connector's first streaming) let lag
    // build for the whole 20 s in some runs (p50 9.7-12.8 s, against 0.1-0.3 s for the same rate warm).
    const warm = await write(t.source, 2000, 10);
    const warmed = Date.now();
    await drained(() => samples.length, warm.written, 120_000);
    const coldLag = window(0, Number.MAX_SAFE_INTEGER);
    console.log(`warm-up at 2,000 writes/s for 10 s (${warm.written} rows, applied ${((Date.now() - warmed) / 1000).toFixed(1)} s after the writer stopped): p50 ${percentile(coldLag, 0.5)} ms, p99 ${percentile(coldLag, 0.99)} ms (not counted)`);
    samples.length = 0;

    const start = Date.now();
    const steady = await write(t.source, 2000, latencySeconds);
    await drained(() => samples.length, steady.written, 30_000);
    const lat = window(start + 2000, Date.now());
    const p50 = percentile(lat, 0.5);
    const p99 = percentile(lat, 0.99);
    console.log(`latency at 2,000 writes/s (achieved ${steady.rate}/s, ${lat.length} events): p50 ${p50} ms, p99 ${p99} ms (targets 150 / 500 ms)`);

    const results: Step[] = [];
    let highestBounded: number | null = null;
    for (const rate of steps) {
      samples.length = 0;
      const from = Date.now();
      const w = await write(t.source, rate, stepSeconds);
      const caughtUp = await drained(() => samples.length, w.written, 60_000);
      const tail = window(from + (stepSeconds * 2000) / 3, from + stepSeconds * 1000);
      const step: Step = { target: rate, achieved: w.rate, p50Ms: percentile(tail, 0.5), p99Ms: percentile(tail, 0.99), bounded: caughtUp && w.rate >= rate * 0.95 && percentile(tail, 0.99) <= 1000 };
      results.push(step);
      console.log(`step ${rate} writes/s: achieved ${w.rate}/s, last third p50 ${step.p50Ms} ms p99 ${step.p99Ms} ms: ${step.bounded ? 'bounded' : caughtUp ? 'NOT bounded' : 'NOT bounded (not caught up within 60 s)'}`);
      if (!step.bounded) break;
      highestBounded = w.rate;
    }
    return { p50, p99, highestBounded, steps: results };
  } finally {
    await projector.stop();
    await t.drop(false);
  }
}

/** Runs the writer process for `seconds` at `rate` rows/s. */
function write(url: string, rate: number, seconds: number): Promise<{ written: number; rate: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'cdc-writer.ts'), [url, String(rate), String(seconds)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`writer exited with ${code}`))));
  });
}

async function drained(applied: () => number, expected: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (applied() < expected) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

