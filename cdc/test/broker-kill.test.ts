import knexFactory, { type Knex } from 'knex';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaClients, type Projector } from '../src';
import { privateBrokers, type PrivateBrokers } from '../../e2e/support/brokers';
import { eventually, randomName } from '../../e2e/support/env';
import { countsSettled, expectSameRows, writeLoad } from '../../e2e/support/load';
import { streamingTenant, type StreamingTenant } from '../../e2e/support/streaming';
import { FAULT_TABLES, faultProjectors } from './fixtures/projections';

/**
 * kill -9 of Kafka Connect, then of the Kafka broker, in the middle of a
 * steady write load, each started again a few seconds later, while the
 * projectors keep running (they are never restarted: they must ride out a
 * broker that vanished). Debezium re-emits what it had not flushed as its
 * offsets, the producer and the consumer reconnect, and in the end the
 * service's copy equals the source row for row and a counting projection
 * counted every committed change exactly once. The broker and the worker are
 * the test's own (privateBrokers), so killing them leaves the shared stack
 * alone.
 */
describe('Kafka Connect and Kafka killed with SIGKILL under load', () => {
  const tenant = randomName('crash');
  let brokers: PrivateBrokers;
  let stream: StreamingTenant;
  let src: Knex;
  let dst: Knex;
  let db: Knex;
  let projectors: Projector[] = [];
  let applied = 0;

  beforeAll(async () => {
    brokers = await privateBrokers();
    stream = await streamingTenant(tenant, { targetPool: 2, connectUrl: brokers.connectUrl, kafka: brokers.kafka });
    ({ src, dst } = stream);
    db = knexFactory({ client: 'pg', connection: stream.target.url, pool: { min: 0, max: 6 } });
    const kafka = kafkaClients([brokers.kafka], 'crash-test', { sessionTimeoutMs: 2000 });
    projectors = await faultProjectors({ kafka, db, sourceUrl: stream.source.url, tenant, onApplied: (events) => (applied += events.length) });
    for (const p of projectors) await p.start();
  }, 300_000);

  afterAll(async () => {
    // A test that failed while the broker was down leaves clients that wait for it: the broker and the
    // worker are stopped whatever the rest of the clean-up does, and that rest gets a bounded time.
    const bounded = (p: Promise<unknown>, ms: number) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())]);
    try {
      await bounded(Promise.all(projectors.map((p) => p.stop())), 30_000);
      await bounded(db?.destroy() ?? Promise.resolve(), 5_000);
      await bounded(stream?.drop() ?? Promise.resolve(), 60_000);
    } finally {
      await brokers?.stop();
    }
  }, 150_000);

  /** Resolves once the projectors applied `n` more events than when called. */
  const progress = async (n: number, timeoutMs = 120_000) => {
    const from = applied;
    await eventually(() => applied >= from + n, timeoutMs, 100);
  };

  /** The applied count once it has not moved for `quietMs`. */
  const steady = async (quietMs: number, timeoutMs = 60_000) => {
    let last = applied;
    let since = Date.now();
    await eventually(() => {
      if (applied !== last) [last, since] = [applied, Date.now()];
      return Date.now() - since >= quietMs;
    }, timeoutMs, 100);
    return last;
  };

  const taskStates = async () => {
    const res = await fetch(`${brokers.connectUrl}/connectors/strangler-${tenant}/status`);
    if (!res.ok) return `HTTP ${res.status}`;
    const body = (await res.json()) as { connector: { state: string }; tasks: Array<{ state: string }> };
    return [body.connector.state, ...body.tasks.map((t) => t.state)].join(',');
  };

  /** Messages in the tenant's four topics (high watermarks: nothing is compacted or deleted here). */
  const topicMessages = async () => {
    const admin = new Kafka({ brokers: [brokers.kafka], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      let n = 0;
      for (const t of FAULT_TABLES) for (const p of await admin.fetchTopicOffsets(`${tenant}.${t}`)) n += Number(p.high) - Number(p.low);
      return n;
    } finally {
      await admin.disconnect();
    }
  };

  it('converges to the source row for row, each change applied exactly once', async () => {
    const load = writeLoad(src, tenant);
    try {
      await progress(200);

      await brokers.killConnect();
      const whileConnectDown = load.committed();
      await new Promise((r) => setTimeout(r, 3_000));
      expect(load.committed()).toBeGreaterThan(whileConnectDown); // the monolith does not notice
      await brokers.startConnect();
      // The worker picks its connector up from Kafka by itself and streams from its last flushed offset.
      await eventually(async () => (await taskStates()) === 'RUNNING,RUNNING', 120_000, 500);
      await progress(200);

      await brokers.killKafka();
      // What was fetched before the kill is applied (a backlog may take a while); after that nothing can come.
      const appliedWhileDown = await steady(1_000);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(applied).toBe(appliedWhileDown);
      await brokers.startKafka();
      // The same projector objects, never restarted, and the same worker: both reconnect.
      await progress(200);
      await eventually(async () => (await taskStates()) === 'RUNNING,RUNNING', 30_000, 500);
    } finally {
      await load.stop();
    }
    await expectSameRows(src, dst, tenant, 120_000);
    const { expected, counted } = await countsSettled(dst, load, 60_000);
    expect(counted).toEqual(expected);
    expect(expected['messages:c']).toBeGreaterThan(500);
    // For the record: how many events the topics hold beyond one per change (and one tombstone per
    // delete), i.e. what Debezium re-emitted after its worker was killed, and the projectors absorbed.
    const changes = Object.values(expected).reduce((a, b) => a + b, 0) + Object.entries(expected).filter(([k]) => k.endsWith(':d')).reduce((a, [, n]) => a + n, 0);
    process.stderr.write(`broker-kill: ${(await topicMessages()) - changes} events re-emitted and absorbed, ${changes} changes\n`);
  }, 600_000);
});
