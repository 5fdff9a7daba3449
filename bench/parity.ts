/**
 * bench/parity: what parity costs.
 *
 * 1. One comparison of a 10 KB JSON pair (target <= 100 us): a page of 24
 *    messages with members, amounts and timestamps; the candidate differs
 *    only in ways the rules absorb (members in another order, timestamps at
 *    millisecond precision, amounts without trailing zeros, another request
 *    id learned as noise). Timed here, in one process: both bodies parsed,
 *    compared under the rules and the learned noise. 5 rounds of 20,000
 *    after a warm-up; the median round is reported.
 * 2. Shadow parity's effect on the primary's p99 (target <= 10 %): an
 *    nginx upstream serving that 10 KB page is the monolith, and a second
 *    one serving the same page is the extracted service (on CPU 1 at idle
 *    priority, as in bench/proxy: it stands for other machines);
 *    strangler-proxy (one process, pinned to CPU 0 with the monolith) in
 *    monolith mode, then in shadow mode, where every request
 *    is copied, answered again and compared by the parity engine, beside a
 *    second, identical monolith-mode proxy (its distance from the first is
 *    the method's noise floor). wrk, pinned to CPU 1, offers a fixed rate
 *    (--rate, default 1,000 req/s): 8 s of warm-up each, then rotating
 *    rounds of 10 s (BENCH_ROUNDS, default 3; A B C, B C A, ...); the median
 *    p99 of shadow mode against the two monolith-mode medians' mean is the
 *    figure.
 *
 * The last line of output is one JSON object with both figures.
 *
 *   npm run bench:parity [-- --rate 1000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import YAML from 'yaml';
import { migrate } from '../migrations/src';
import { compareAnswers, compileRules, NoiseModel, type Answer } from '../strangler-proxy/src';
import { alternating, contender, freePort, LATENCY_ROUNDS, nginx, PG, runBench, waitPort, WORK, type Latency } from './proxy/harness';

function page(variant: 'monolith' | 'monolith-again' | 'candidate'): unknown {
  const c = variant === 'candidate';
  return {
    meta: { request_id: `${variant}-${Math.random().toString(36).slice(2)}`, page: 1, per_page: 20 },
    data: Array.from({ length: 24 }, (_, i) => ({
      id: 1000 + i,
      room_id: 7,
      author: { id: 10 + (i % 3), display_name: `Advisor ${i % 3}`, bank_role: 'advisor' },
      body: `Settlement of the EUR/CHF forward for client ${i}: confirmed at the agreed rate, see attachment.`,
      format: 'plain',
      amount: c ? `${1250 + i}.5` : `${1250 + i}.50`,
      currency: 'EUR',
      attachments: i % 4 === 0 ? [{ name: `deal-${i}.pdf`, size: 20480 + i, content_type: 'application/pdf' }] : [],
      members: c ? [{ user_id: 12, role: 'member' }, { user_id: 11, role: 'owner' }] : [{ user_id: 11, role: 'owner' }, { user_id: 12, role: 'member' }],
      created_at: c ? `2026-11-25T10:00:${String(i).padStart(2, '0')}.123Z` : `2026-11-25T10:00:${String(i).padStart(2, '0')}.123456Z`,
      updated_at: `2026-11-25T11:00:${String(i).padStart(2, '0')}.000001Z`,
      edited_at: null,
    })),
  };
}

const answer = (v: unknown): Answer => ({ status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(JSON.stringify(v)) });

function comparisonCost(): { bytes: number; us: number } {
  const rules = compileRules({ sets: { '$.data[*].members': 'user_id' } });
  const noise = new NoiseModel();
  // Enough unchanged-data pairs for their differences to pass the noise bar (NOISE_DEFAULTS.minPairs).
  for (let i = 0; i < 10; i++) noise.learn('page', answer(page('monolith')), answer(page('monolith-again')), rules, false);
  const isNoise = noise.predicate('page');
  const a = answer(page('monolith'));
  const b = answer(page('candidate'));
  const check = compareAnswers(a, b, rules, isNoise);
  if (!check.match) throw new Error(`the bench pair should match under its rules: ${JSON.stringify(check.differences.slice(0, 3))}`);
  for (let i = 0; i < 3000; i++) compareAnswers(a, b, rules, isNoise);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const n = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) compareAnswers(a, b, rules, isNoise);
    rounds.push(((performance.now() - t0) * 1000) / n);
  }
  rounds.sort((x, y) => x - y);
  return { bytes: (a.body as Buffer).length, us: Math.round(rounds[2]! * 10) / 10 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rate: { type: 'string', default: '1000' } } });
  const rate = Number(values.rate);
  const cpus = os.cpus();
  console.log(`bench/parity on ${cpus.length} x ${cpus[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);

  const cost = comparisonCost();
  console.log(`one comparison of a ${(cost.bytes / 1024).toFixed(1)} KiB JSON pair (parse both, rules, learned noise): ${cost.us} us (target <= 100)`);

  const db = `strangler_bench_parity_${process.pid}`;
  const admin = new Client({ connectionString: PG });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  const controlUrl = PG.replace(/\/[^/]*$/, `/${db}`);
  try {
    await migrate('control', controlUrl);
    // A file, not `return 200 '...'`: nginx refuses a 10 KB parameter.
    const file = path.join(WORK, 'page.json');
    fs.writeFileSync(file, JSON.stringify(page('monolith')));
    const upstreamPort = await freePort();
    await nginx('upstream', `  server { listen 127.0.0.1:${upstreamPort}; default_type application/json; etag off; location / { alias ${file}; } }`);
    await waitPort(upstreamPort);
    const upstream = `http://127.0.0.1:${upstreamPort}`;
    // The extracted service: the same page from a second nginx on CPU 1 at idle priority (as in bench/proxy:
    // in production it runs elsewhere, and its own work is not the proxy's).
    const servicePort = await freePort();
    await nginx('service', `  server { listen 127.0.0.1:${servicePort}; default_type application/json; etag off; location / { alias ${file}; } }`, 1, '1', true);
    await waitPort(servicePort);
    const service = `http://127.0.0.1:${servicePort}`;
    const config = (mode: string) => {
      const file = path.join(WORK, `${mode}.yaml`);
      fs.writeFileSync(
        file,
        YAML.stringify({
          listen: { host: '127.0.0.1', port: 0 },
          admin: { host: '127.0.0.1', port: 0, tokens: [{ name: 'bench', role: 'write', token: { value: 'bench-token-0123456789' } }] },
          controlStore: { url: { value: controlUrl } },
          tenants: { bench: { monolith: upstream, hosts: ['127.0.0.1'] } },
          services: { svc: { url: service } },
          routes: [{ id: `page-${mode}`, match: { method: 'GET', path: '/bench' }, service: 'svc', mode, parity: { sets: { '$.data[*].members': 'user_id' } } }],
          shadow: { timeoutMs: 1000, noiseSampleRate: 0.1 },
          log: { level: 'warn', access: false },
        }),
      );
      return file;
    };
    console.log(`\nprimary latency at ${rate} req/s (wrk paced; each proxy warmed up 8 s, then ${LATENCY_ROUNDS} rotating rounds of 10 s, medians; proxies and upstream on CPU 0, wrk on CPU 1)`);
    // Two identical monolith-mode proxies: how far apart they come out is the method's noise floor on this machine.
    const group = [
      { name: 'strangler, monolith mode', port: await contender('strangler', upstream, config('monolith')) },
      { name: 'strangler, monolith mode (twin)', port: await contender('strangler', upstream, config('monolith')) },
      { name: 'strangler, shadow + parity', port: await contender('strangler', upstream, config('shadow')) },
    ];
    const [monolith, twin, shadow] = alternating(group, rate) as [Latency, Latency, Latency];
    const pct = (x: number, base: number) => Math.round(((x - base) / base) * 1000) / 10;
    const baseline = (monolith.p99 + twin.p99) / 2;
    const change = pct(shadow.p99, baseline);
    const noise = pct(Math.max(monolith.p99, twin.p99), Math.min(monolith.p99, twin.p99));
    console.log(`shadow parity moves the primary's p99 by ${change} % against the two monolith-mode proxies' mean (target <= 10); the two identical proxies differ by ${noise} % (the method's noise floor here)`);
    console.log(JSON.stringify({ machine: `${cpus.length} x ${cpus[0]?.model.trim()}, Node ${process.version}`, comparisonBytes: cost.bytes, comparisonUs: cost.us, rate, rounds: LATENCY_ROUNDS, p99MonolithMs: monolith.p99, p99MonolithTwinMs: twin.p99, p99ShadowParityMs: shadow.p99, shadowParityP99ChangePct: change, noiseFloorPct: noise }));
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

runBench(main);
