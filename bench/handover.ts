/**
 * Hand-over benchmark: the write pause of a hand-over under a steady write
 * load, back-sync's latency and the highest rate it keeps bounded, and the
 * change events per client write in both directions (echo). Needs the stack
 * running (npm start). The last line of output is one JSON object.
 *
 * Topology (e2e/support/handover-topology.ts, as the e2e tests use it): two
 * tenants' monolith apps and databases, each streamed by its connector; the
 * messaging service fed by both; back-sync (connector on the service's
 * database, applier in this process); a control store and a proxy whose
 * config declares the messaging domain. Everything on this machine.
 *
 * Pause: an open-loop writer posts messages for one tenant through the proxy
 * at --rate writes/s (a tick every 10 ms; a request never waits for an
 * earlier one). After a 3 s warm-up, --handovers hand-overs alternate
 * (service, monolith, ...) 2 s apart. Per hand-over: the runner's pause
 * (hold recorded to flip done: writes held meanwhile) and, client side, the
 * slowest write that started during it. Writes answered 503 are counted.
 *
 * Back-sync latency: the tenant owned by the service, a writer inserts
 * message rows straight into the service's database (one transaction every
 * 10 ms over 4 connections, ids from the service's allocator), at each rate
 * of --steps for --step-seconds. Latency of a transaction = when back-sync
 * committed it in the monolith minus its commit time in the service
 * (Debezium's source.ts_ms; one clock). The step at 1,000 writes/s gives
 * p50 and p99 (first 2 s not counted); a step is bounded when the writer
 * achieved >= 95 % of the rate and the p99 of its last third is <= 1 s.
 *
 * Echo: --echo-writes writes through the proxy while the service owns the
 * tenant, then as many while the monolith owns it; the change events each
 * topic gained per write once both are quiet, and what back-sync applied or
 * passed over meanwhile.
 *
 *   npm run bench:handover [-- --rate 500 --handovers 10 --steps 500,1000,2000,4000 --step-seconds 15 --echo-writes 300]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { Agent, request } from 'undici';
import { loadStackConfig, runningOwner, stackLayout } from '@strangler/stack';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    handovers: { type: 'string', default: '10' },
    steps: { type: 'string', default: '500,1000,2000,4000' },
    'step-seconds': { type: 'string', default: '15' },
    'echo-writes': { type: 'string', default: '300' },
  },
});

const pct = (xs: readonly number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const owner = runningOwner(stackLayout(loadStackConfig()));
  if (!owner?.readyAt) throw new Error('the stack is not running: start it first (npm start), then run this benchmark');
  process.env.STRANGLER_TEST_PG_URL = owner.endpoints.postgresAdminUrl;
  process.env.STRANGLER_TEST_KAFKA = owner.endpoints.kafkaBootstrap;
  process.env.STRANGLER_TEST_CONNECT_URL = owner.endpoints.connectUrl;
  process.env.STRANGLER_TEST_TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-bench-handover-'));
  const { handoverTopology } = await import('../e2e/support/handover-topology');

  const applied: Array<{ at: number; ms: number; rows: number; tenant: string }> = [];
  let skipped = 0;
  const topo = await handoverTopology({
    holdMs: 3000,
    inProcessBackSync: {
      onApplied: (tenant, events, committedAtMs) => void applied.push({ at: Date.now(), ms: Date.now() - committedAtMs, rows: events.length, tenant }),
      onSkipped: (_t, events) => void (skipped += events.length),
    },
  });
  const agent = new Agent({ connections: 512, pipelining: 1 });
  const [acme] = topo.tenants;
  const host = `${acme!.name}.localhost`;
  const post = async (p: string, body: unknown) => {
    const res = await request(`${topo.proxy.url}${p}`, { dispatcher: agent, method: 'POST', headers: { host, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.body.text();
    return { status: res.statusCode, json: res.statusCode < 300 ? JSON.parse(text) : null };
  };
  const result: Record<string, unknown> = { machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`, node: process.version };
  try {
    const rooms: number[] = [];
    for (let i = 0; i < 5; i++) rooms.push((await post('/api/rooms', { name: `bench room ${i}`, created_by: 1 })).json.id);

    // --- Pause: hand-overs under an open-loop write load.
    const rate = Number(values.rate);
    const writes: Array<{ start: number; ms: number; status: number }> = [];
    let writing = true;
    let n = 0;
    const inflight = new Set<Promise<void>>();
    const writer = (async () => {
      const t0 = performance.now();
      let sent = 0;
      while (writing) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate);
        for (; sent < due; sent++) {
          const start = performance.now();
          const p = post(`/api/rooms/${rooms[n++ % rooms.length]}/messages`, { author_id: 1, body: `bench ${n}` })
            .then((r) => void writes.push({ start, ms: performance.now() - start, status: r.status }))
            .catch(() => void writes.push({ start, ms: performance.now() - start, status: 0 }));
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        }
        await sleep(10);
      }
    })();
    await sleep(3000);
    const handovers: Array<{ to: string; pauseMs: number; clientMaxMs: number; steps: Record<string, unknown> }> = [];
    const count = Number(values.handovers);
    for (let i = 0; i < count; i++) {
      const to = i % 2 === 0 ? 'service' : 'monolith';
      const from = performance.now();
      const r = await topo.own(acme!.name, to);
      const until = performance.now();
      if (r.status !== 200) throw new Error(`hand-over ${i + 1} to the ${to}: ${r.status} ${JSON.stringify(r.body)}`);
      await sleep(1500);
      const during = writes.filter((w) => w.start >= from && w.start <= until);
      const f = r.body.figures as Record<string, number>;
      handovers.push({ to, pauseMs: f.pauseMs!, clientMaxMs: Math.round(Math.max(0, ...during.map((w) => w.ms))), steps: { drain: f.drainMs, fence: f.fenceMs ?? f.revokeMs, catchUp: f.catch_upMs, sequences: f.sequencesMs, flip: f.flipMs } });
      console.log(`hand-over ${i + 1} to the ${to}: pause ${f.pauseMs} ms, slowest write started during it ${handovers[i]!.clientMaxMs} ms (${JSON.stringify(handovers[i]!.steps)})`);
      await sleep(500);
    }
    writing = false;
    await writer;
    await Promise.all([...inflight]);
    const pauses = handovers.map((h) => h.pauseMs);
    const clientMax = handovers.map((h) => h.clientMaxMs);
    const elapsed = (writes[writes.length - 1]!.start - writes[0]!.start) / 1000;
    result.pause = {
      rate,
      achievedRate: Math.round(writes.length / elapsed),
      handovers: handovers.length,
      pauseMs: { p50: pct(pauses, 50), p99: pct(pauses, 99), max: Math.max(...pauses) },
      slowestWritePerHandoverMs: { p50: pct(clientMax, 50), p99: pct(clientMax, 99), max: Math.max(...clientMax) },
      writeLatencyMs: { p50: pct(writes.map((w) => w.ms), 50), p99: pct(writes.map((w) => w.ms), 99) },
      answered503: writes.filter((w) => w.status === 503).length,
      failed: writes.filter((w) => w.status !== 201 && w.status !== 503).length,
      targets: { p50: 300, p99: 1000, max: 3000 },
    };
    console.log(`pause: ${JSON.stringify(result.pause)}`);

    // --- Back-sync latency: rows written straight into the service's database while it owns the tenant.
    if ((await topo.own(acme!.name, 'service')).status !== 200) throw new Error('could not hand the tenant to the service for the latency phase');
    const steps = String(values.steps).split(',').map(Number);
    const stepMs = Number(values['step-seconds']) * 1000;
    const knex = (await import('knex')).default({ client: 'pg', connection: topo.serviceDb.url, pool: { min: 4, max: 4 } });
    const block = await knex.raw("UPDATE strangler.id_allocations SET next_id = next_id + 100000000 WHERE tenant = ? AND tbl = 'messages' RETURNING next_id - 100000000 AS base", [acme!.name]);
    let nextId = Number(block.rows[0].base);
    const latency: Array<Record<string, unknown>> = [];
    let bounded: number | null = null;
    for (const stepRate of steps) {
      applied.length = 0;
      const t0 = performance.now();
      let rows = 0;
      const txns: Promise<unknown>[] = [];
      while (performance.now() - t0 < stepMs) {
        const due = Math.floor(((performance.now() - t0) / 1000) * stepRate) - rows;
        const k = Math.min(due, Math.max(1, Math.ceil(stepRate / 100)));
        if (k > 0) {
          const batch = Array.from({ length: k }, () => ({ tenant: acme!.name, id: nextId++, room_id: rooms[0], author_id: 1, body: 'latency', format: 'plain', attachments: '[]', edit_count: 0, created_at: new Date(), updated_at: new Date() }));
          rows += k;
          txns.push(knex('messages').insert(batch));
          if (txns.length > 8) await txns.shift();
        }
        await sleep(10);
      }
      await Promise.all(txns);
      const achieved = rows / ((performance.now() - t0) / 1000);
      await sleep(3000);
      const mine = applied.filter((a) => a.tenant === acme!.name);
      const counted = mine.filter((a) => a.at - t0 > 2000);
      const lastThird = mine.filter((a) => a.at - t0 > (stepMs * 2) / 3 && a.at - t0 <= stepMs + 3000);
      const line = { rate: stepRate, achieved: Math.round(achieved), p50: pct(counted.map((a) => a.ms), 50), p99: pct(counted.map((a) => a.ms), 99), lastThirdP99: pct(lastThird.map((a) => a.ms), 99) };
      latency.push(line);
      console.log(`back-sync at ${stepRate} writes/s: ${JSON.stringify(line)}`);
      if (achieved >= 0.95 * stepRate && (line.lastThirdP99 ?? Infinity) <= 1000) bounded = stepRate;
      else break;
    }
    await knex.destroy();
    const at1000 = latency.find((l) => l.rate === 1000);
    result.backSync = { at1000: at1000 ?? null, steps: latency, highestBoundedRate: bounded, targets: { p50: 150, p99: 500 } };

    // --- Echo: change events per client write, both directions.
    const kafka = new Kafka({ clientId: 'bench-handover', brokers: [owner.endpoints.kafkaBootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topics = { monolith: `${acme!.name}.public.messages`, backSync: `strangler.backsync.${topo.service_name}` };
    const ends = async () => Object.fromEntries(await Promise.all(Object.entries(topics).map(async ([k, t]) => [k, (await admin.fetchTopicOffsets(t)).reduce((s, p) => s + Number(p.high), 0)] as const)));
    const quiet = async () => {
      let last = JSON.stringify(await ends());
      for (;;) {
        await sleep(2000);
        const now = JSON.stringify(await ends());
        if (now === last) return JSON.parse(now) as Record<string, number>;
        last = now;
      }
    };
    const echoWrites = Number(values['echo-writes']);
    const phase = async (ownerNow: 'service' | 'monolith') => {
      if ((await topo.own(acme!.name, ownerNow)).status !== 200 && ownerNow === 'monolith') throw new Error('hand-back failed');
      const before = await quiet();
      const appliedBefore = applied.filter((a) => a.tenant === acme!.name).reduce((s, a) => s + a.rows, 0);
      const skippedBefore = skipped;
      for (let i = 0; i < echoWrites; i++) await post(`/api/rooms/${rooms[1]}/messages`, { author_id: 1, body: `echo ${i}` });
      const after = await quiet();
      return {
        owner: ownerNow,
        writes: echoWrites,
        monolithTopicEventsPerWrite: (after.monolith! - before.monolith!) / echoWrites,
        backSyncTopicEventsPerWrite: (after.backSync! - before.backSync!) / echoWrites,
        carriedToMonolithPerWrite: (applied.filter((a) => a.tenant === acme!.name).reduce((s, a) => s + a.rows, 0) - appliedBefore) / echoWrites,
        passedOverPerWrite: (skipped - skippedBefore) / echoWrites,
      };
    };
    applied.length = 0;
    result.echo = [await phase('service'), await phase('monolith')];
    await admin.disconnect();
    console.log(`echo: ${JSON.stringify(result.echo)}`);
  } finally {
    await agent.close();
    await topo.stop();
  }
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
