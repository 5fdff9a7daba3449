/**
 * Hand-over benchmark: the write pause of a hand-over under a steady write
 * load, back-sync's latency and the highest rate it keeps bounded, and the
 * change events per client write in both directions (echo). Runs against the
 * stack of `npm start` (its proxy, monoliths, messaging service and back-sync,
 * each its own process, as deployed); tenant acme. The last line of output is
 * one JSON object.
 *
 * Pause: an open-loop writer posts messages for acme through the proxy at
 * --rate writes/s (a tick every 10 ms; a request never waits for an earlier
 * one). After a --warmup-seconds warm-up (default 10), --handovers hand-overs alternate (service,
 * monolith, ...) 2 s apart, through the admin API (forced: the demo's write
 * routes are not shadowed, so parity has not proven them; the gate is tested
 * elsewhere). Per hand-over: the runner's pause (hold recorded to flip done:
 * writes held meanwhile) and, client side, the slowest write that started
 * during it. Writes answered 503 are counted.
 *
 * Back-sync latency: acme owned by the service, one writer inserts message
 * rows straight into the service's database (one transaction per 10 ms
 * tick, each waited for, ids from a block of the service's allocator), at
 * each rate of --steps for --step-seconds; a poller reads the highest of
 * those ids in acme's monolith database every 5 ms. Latency of a
 * transaction = when the poller first saw it minus when its commit returned
 * (one clock; the poll adds up to 5 ms). The first 2 s of a step are not
 * counted; a step is bounded when the writer achieved >= 95 % of the rate
 * and the p99 of its last third is <= 1 s.
 *
 * Echo: --echo-writes writes through the proxy while the service owns acme,
 * then as many while the monolith owns it; the change events each topic
 * gained per write once both are quiet (no topic grows for 2 s: no loop).
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
    'warmup-seconds': { type: 'string', default: '10' },
  },
});

const pct = (xs: readonly number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const config = loadStackConfig();
  const layout = stackLayout(config);
  const owner = runningOwner(layout);
  if (!owner?.readyAt || !owner.endpoints.monoliths.acme) throw new Error('the stack is not running with its monoliths: start it first (npm start), then run this benchmark');
  const proxyUrl = `http://127.0.0.1:${config.ports.proxy}`;
  const adminUrl = `http://127.0.0.1:${config.ports.proxyAdmin}`;
  const token = fs.readFileSync(path.join(layout.stateDir, 'proxy', 'admin-token'), 'utf8').trim();
  const monolithDb = owner.endpoints.monoliths.acme.databaseUrl;
  const serviceDb = owner.endpoints.postgresAdminUrl.replace(/\/[^/]*$/, '/extracted_messaging');
  const own = async (to: 'service' | 'monolith') => {
    const res = await fetch(`${adminUrl}/ownership/messaging/acme`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ to, reason: 'bench:handover', force: true }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const ownerNow = async () => {
    const res = await fetch(`${adminUrl}/ownership`, { headers: { authorization: `Bearer ${token}` } });
    const s = (await res.json()) as { domains: Array<{ tenants: Array<{ tenant: string; owner: string }> }> };
    return s.domains[0]?.tenants.find((t) => t.tenant === 'acme')?.owner;
  };
  const agent = new Agent({ connections: 512, pipelining: 1 });
  const host = 'acme.localhost';
  const knexFactory = (await import('knex')).default;
  const svc = knexFactory({ client: 'pg', connection: serviceDb, pool: { min: 1, max: 4 } });
  const mono = knexFactory({ client: 'pg', connection: monolithDb, pool: { min: 1, max: 2 } });
  const post = async (p: string, body: unknown) => {
    const res = await request(`${proxyUrl}${p}`, { dispatcher: agent, method: 'POST', headers: { host, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.body.text();
    return { status: res.statusCode, json: res.statusCode < 300 ? JSON.parse(text) : null };
  };
  const result: Record<string, unknown> = { machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`, node: process.version };
  try {
    if ((await ownerNow()) === 'service' && (await own('monolith')).status !== 200) throw new Error('acme is owned by the service and could not be handed back');
    // Users are the monolith's: one author, created through the proxy (the service's copy gets it by CDC).
    const users = await request(`${proxyUrl}/api/users?limit=1`, { dispatcher: agent, headers: { host } }).then((r) => r.body.json() as Promise<{ data: Array<{ id: number }> }>);
    const author = users.data[0]?.id ?? (await post('/api/users', { email: `bench-${Date.now()}@bank.example`, display_name: 'Bench' })).json.id;
    await sleep(1000);
    const rooms: number[] = [];
    for (let i = 0; i < 5; i++) rooms.push((await post('/api/rooms', { name: `bench room ${i}` })).json.id);

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
          const p = post(`/api/rooms/${rooms[n++ % rooms.length]}/messages`, { author_id: author, body: `bench ${n}` })
            .then((r) => void writes.push({ start, ms: performance.now() - start, status: r.status }))
            .catch(() => void writes.push({ start, ms: performance.now() - start, status: 0 }));
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        }
        await sleep(10);
      }
    })();
    await sleep(Number(values['warmup-seconds']) * 1000);
    const handovers: Array<{ to: string; pauseMs: number; clientMaxMs: number; steps: Record<string, unknown> }> = [];
    const count = Number(values.handovers);
    for (let i = 0; i < count; i++) {
      const to = i % 2 === 0 ? 'service' : 'monolith';
      const from = performance.now();
      const r = await own(to);
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

    // --- Back-sync latency: rows written straight into the service's database while it owns acme.
    if ((await own('service')).status !== 200) throw new Error('could not hand acme to the service for the latency phase');
    const steps = String(values.steps).split(',').map(Number);
    const stepMs = Number(values['step-seconds']) * 1000;
    const block = await svc.raw("UPDATE strangler.id_allocations SET next_id = next_id + 100000000 WHERE tenant = 'acme' AND tbl = 'messages' RETURNING next_id - 100000000 AS base");
    const base = Number(block.rows[0].base);
    let nextId = base;
    const latency: Array<Record<string, unknown>> = [];
    let bounded: number | null = null;
    for (const stepRate of steps) {
      const txns: Array<{ last: number; committed: number; seen: number | null }> = [];
      let polling = true;
      const poller = (async () => {
        let seenUpTo = nextId - 1;
        let i = 0;
        while (polling) {
          const r = await mono.raw('SELECT max(id) AS m FROM messages WHERE id >= ?', [base]);
          const m = Number(r.rows[0].m ?? 0);
          const now = performance.now();
          if (m > seenUpTo) {
            seenUpTo = m;
            for (; i < txns.length && txns[i]!.last <= m; i++) txns[i]!.seen = now;
          }
          await sleep(5);
        }
      })();
      const t0 = performance.now();
      let rows = 0;
      while (performance.now() - t0 < stepMs) {
        const k = Math.min(Math.floor(((performance.now() - t0) / 1000) * stepRate) - rows, Math.max(1, Math.ceil(stepRate / 50)));
        if (k > 0) {
          const now = new Date();
          const batch = Array.from({ length: k }, () => ({ tenant: 'acme', id: nextId++, room_id: rooms[0], author_id: author, body: 'latency', format: 'plain', attachments: '[]', edit_count: 0, created_at: now, updated_at: now }));
          await svc('messages').insert(batch);
          txns.push({ last: nextId - 1, committed: performance.now(), seen: null });
          rows += k;
        }
        await sleep(Math.max(0, 10 - ((performance.now() - t0) % 10)));
      }
      const achieved = rows / ((performance.now() - t0) / 1000);
      const deadline = performance.now() + 30_000;
      while (txns.some((t) => t.seen === null) && performance.now() < deadline) await sleep(50);
      polling = false;
      await poller;
      const ms = (t: { committed: number; seen: number | null }) => (t.seen === null ? Infinity : t.seen - t.committed);
      const counted = txns.filter((t) => t.committed - t0 > 2000).map(ms);
      const lastThird = txns.filter((t) => t.committed - t0 > (stepMs * 2) / 3).map(ms);
      const line = { rate: stepRate, achieved: Math.round(achieved), transactions: txns.length, p50: pct(counted, 50), p99: pct(counted, 99), lastThirdP99: pct(lastThird, 99), unseen: txns.filter((t) => t.seen === null).length };
      latency.push(line);
      console.log(`back-sync at ${stepRate} writes/s: ${JSON.stringify(line)}`);
      if (achieved >= 0.95 * stepRate && (line.lastThirdP99 ?? Infinity) <= 1000) bounded = stepRate;
      else break;
    }
    result.backSync = { at1000: latency.find((l) => l.rate === 1000) ?? null, steps: latency, highestBoundedRate: bounded, targets: { p50: 150, p99: 500 } };

    // --- Echo: change events per client write, both directions.
    const kafka = new Kafka({ clientId: 'bench-handover', brokers: [owner.endpoints.kafkaBootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topics = { monolith: 'acme.public.messages', backSync: 'strangler.backsync.messaging' };
    const ends = async () => Object.fromEntries(await Promise.all(Object.entries(topics).map(async ([k, t]) => [k, (await admin.fetchTopicOffsets(t)).reduce((sum, p) => sum + Number(p.high), 0)] as const)));
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
    const phase = async (owning: 'service' | 'monolith') => {
      if ((await ownerNow()) !== owning && (await own(owning)).status !== 200) throw new Error(`could not hand acme to the ${owning}`);
      const before = await quiet();
      for (let i = 0; i < echoWrites; i++) await post(`/api/rooms/${rooms[1]}/messages`, { author_id: author, body: `echo ${i}` });
      const after = await quiet();
      return { owner: owning, writes: echoWrites, monolithTopicEventsPerWrite: (after.monolith! - before.monolith!) / echoWrites, backSyncTopicEventsPerWrite: (after.backSync! - before.backSync!) / echoWrites };
    };
    result.echo = [await phase('service'), await phase('monolith')];
    await admin.disconnect();
    console.log(`echo: ${JSON.stringify(result.echo)}`);
  } finally {
    await agent.close();
    await svc.destroy();
    await mono.destroy();
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
