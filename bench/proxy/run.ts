/**
 * bench/proxy: throughput and added latency of strangler-proxy against
 * nginx and the other Node proxies, side by side in one run.
 *
 * Method (also in bench/README.md):
 * - One upstream for everyone: nginx (1 worker) answering GET /bench with a
 *   fixed 1 KiB JSON body. Every contender and the upstream run pinned to
 *   CPU 0; the load generator runs pinned to CPU 1 (taskset), so the two
 *   never fight for a core; on a 2-core machine that is all there is.
 *   Shadow mode's copies go to a second, identical nginx that stands for the
 *   extracted service (in production, other machines): on CPU 1 at idle
 *   priority (chrt --idle), so answering copies takes no CPU from CPU 0 and
 *   never delays wrk, which preempts it at once. (Until 2026-12-01 the copies
 *   went to the upstream on CPU 0: shadow mode was then charged for the
 *   service's own work on the primary's core.)
 * - Contenders, each its own process, one process each: direct
 *   to the upstream; nginx proxy_pass with upstream keepalive; http-proxy
 *   (keep-alive agent); @fastify/http-proxy; strangler-proxy in monolith,
 *   extracted and shadow mode. Access logs off everywhere. Then both cores:
 *   nginx with 2 workers against strangler-proxy's cluster mode with 2
 *   workers (its own command, `proxy serve --workers 2`), both free to use
 *   CPU 0 and 1, so both share CPU 1 with wrk; printed apart from the ratios
 *   (which compare one core with one core).
 * - CPU per forwarded request: in the same throughput rounds, each
 *   contender's own process tree (nginx's workers, a cluster's) is read
 *   from /proc (utime + stime of every thread) before and after each round,
 *   divided by the requests wrk completed; the median of the rounds. A rate
 *   here swings by a third between rounds with the host's speed; CPU spent
 *   per request does not count the time a process waited for the core, so
 *   it moves less than a rate, though the host's speed moves it too (40 to
 *   70 us for one contender within minutes here): strangler-proxy in
 *   monolith mode is judged against the minimal undici loop by the median
 *   of the ratios taken inside each round (target ≤ 1.1 x).
 * - Throughput: wrk, closed loop, 1 thread, 64 connections; every
 *   contender of a table runs at once (idle but the one measured), each
 *   warmed up 2 s, then rotating rounds of 8 s (BENCH_THROUGHPUT_ROUNDS,
 *   default 3) and the median of each one's rounds: this host's speed
 *   drifted by a third within ten minutes, which one pass in a row charged
 *   to whoever ran in the slow minutes.
 * - Added latency: wrk with pace.lua, 16 connections each pausing a random
 *   0-2x pace between requests (a fixed pause makes them fire in step, so
 *   every contender was measured on bursts of 16), so the offered rate is
 *   about half of strangler's monolith-mode throughput; 8 s of warm-up not
 *   counted, then rotating rounds of 10 s (A B C, B C A, ..., BENCH_ROUNDS,
 *   default 3) and the median of each contender's rounds, wrk's --latency
 *   percentiles (a p99 here drifts 2-4x from minute to minute; alternating
 *   puts the drift on everyone alike). Added = proxy minus
 *   direct, at p50 and p99. For reference in the same conditions: a Node
 *   HTTP server answering by itself (the floor any Node server pays), a
 *   minimal undici proxy of a dozen lines (the floor any Node proxy pays;
 *   both also in the throughput table, outside the ratios, with their own
 *   ratio to nginx printed for reference) and
 *   @fastify/http-proxy. Shadow mode's effect: its p99 against monolith
 *   mode's p99 at the same rate (the mean of two identical monolith-mode
 *   proxies, whose distance is printed as the noise floor), with a healthy
 *   shadow target and with one that accepts connections and never answers;
 *   and, for reference only, shadow mode copying a 10 % sample
 *   (shadow.sampleRate 0.1; the target figure is the default, every
 *   request copied). (A Node open-loop
 *   generator was tried first: on this 2-core VM it stalled by itself,
 *   showing 180 ms p90 straight to nginx, so it measured itself.)
 * The last line of output is one JSON object with every figure.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { Client } from 'pg';
import { migrate } from '../../migrations/src';
import { alternating, BODY, children, CONNECTIONS, contender, freePort, LATENCY_ROUNDS, LATENCY_SECONDS, need, nginx, PACED_CONNECTIONS, PG, pairedRatio, pidOf, runBench, stop, stranglerServe, THROUGHPUT_ROUNDS, THROUGHPUT_SECONDS, throughputAndCpu, throughputRounds, waitPort, WORK, type Latency } from './harness';

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log(`bench/proxy on ${cpus.length} × ${cpus[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  const nginxVersion = execFileSync(need('nginx', 'nginx-light'), ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) || '';
  void nginxVersion;

  // Control store for strangler (it refuses to serve without one).
  const db = `strangler_bench_${process.pid}`;
  const admin = new Client({ connectionString: PG });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  const controlUrl = PG.replace(/\/[^/]*$/, `/${db}`);
  await migrate('control', controlUrl);

  const [upstreamPort, nginxPort] = [await freePort(), await freePort()];
  await nginx('upstream', `  server { listen 127.0.0.1:${upstreamPort}; default_type application/json; location / { return 200 '${BODY}'; } }`);
  const nginxProxy = (port: number) =>
    `  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 128; }\n  server { listen 127.0.0.1:${port}; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; } }`;
  pidOf.set(nginxPort, await nginx('proxy', nginxProxy(nginxPort)));
  await waitPort(upstreamPort);
  await waitPort(nginxPort);
  const upstream = `http://127.0.0.1:${upstreamPort}`;
  // The shadow target stands for the extracted service, which runs on other machines: a second nginx on
  // CPU 1 at idle priority (SCHED_IDLE), so it answers the copies without taking CPU 0 from the contenders
  // nor delaying wrk (which preempts it at once).
  const shadowPort = await freePort();
  await nginx('shadow-target', `  server { listen 127.0.0.1:${shadowPort}; default_type application/json; location / { return 200 '${BODY}'; } }`, 1, '1', true);
  await waitPort(shadowPort);
  const shadowTarget = `http://127.0.0.1:${shadowPort}`;

  // A shadow target that accepts connections and never answers.
  const hanging = net.createServer(() => {}).listen(0, '127.0.0.1');
  await new Promise((r) => hanging.once('listening', r));
  const hangingUrl = `http://127.0.0.1:${(hanging.address() as net.AddressInfo).port}`;

  const strConfig = (name: string, mode: string, serviceUrl: string, ports = { port: 0, admin: 0 }, sampleRate = 1) => {
    const file = path.join(WORK, `${name}.yaml`);
    fs.writeFileSync(
      file,
      YAML.stringify({
        listen: { host: '127.0.0.1', port: ports.port },
        admin: { host: '127.0.0.1', port: ports.admin, tokens: [{ name: 'bench', role: 'write', token: { value: 'bench-token-0123456789' } }] },
        controlStore: { url: { value: controlUrl } },
        tenants: { bench: { monolith: upstream, hosts: ['127.0.0.1'] } },
        services: { svc: { url: serviceUrl, timeouts: { connectMs: 1000, headersMs: 2000, bodyMs: 5000 } } },
        routes: [{ id: `bench-${name}`, match: { method: 'GET', path: '/bench' }, service: 'svc', mode }],
        shadow: { timeoutMs: 1000, sampleRate },
        log: { level: 'warn', access: false },
      }),
    );
    return file;
  };

  console.log(`\nthroughput (wrk, ${CONNECTIONS} connections, ${THROUGHPUT_SECONDS} s, closed loop; servers on CPU 0, wrk on CPU 1; ${THROUGHPUT_ROUNDS} rotating rounds, medians)`);
  const contenders: Array<{ key: string; name: string; port: number; host?: string }> = [
    { key: 'direct', name: 'direct to upstream', port: upstreamPort },
    { key: 'nginx', name: 'nginx proxy_pass', port: nginxPort },
  ];
  // Two floors, outside the ratios: a Node server answering by itself (no proxying at all: what any Node
  // server costs here), and a minimal undici loop (what any Node proxy costs here).
  const floors: Record<string, string> = { 'node-http': 'node http server alone (floor)', 'undici-minimal': 'minimal undici loop (floor)' };
  for (const kind of ['http-proxy', 'fastify-http-proxy', 'undici-minimal', 'node-http']) {
    contenders.push({ key: kind, name: floors[kind] ?? kind, port: await contender(kind, upstream) });
  }
  for (const [name, mode, svc] of [
    ['monolith', 'monolith', upstream],
    ['extracted', 'extracted', upstream],
    ['shadow', 'shadow', shadowTarget],
  ] as const) {
    contenders.push({ key: `strangler-${name}`, name: `strangler-proxy ${name}`, port: await contender('strangler', upstream, strConfig(name, mode, svc)), host: '127.0.0.1' });
  }
  const measured1 = throughputAndCpu(contenders);
  const rps: Record<string, number> = Object.fromEntries(contenders.map((c, i) => [c.key, measured1.rps[i]!]));
  // CPU per forwarded request, each contender's own process: direct is the upstream's share alone (nginx answering), not counted.
  const cpuUs: Record<string, number | null> = Object.fromEntries(contenders.map((c, i) => [c.key, measured1.cpuUs[i]!]));
  const cpuRound = (key: string) => measured1.cpuRounds[contenders.findIndex((c) => c.key === key)]!;
  const cpuRatio = pairedRatio(cpuRound('strangler-monolith'), cpuRound('undici-minimal'));
  const strangler = { monolith: rps['strangler-monolith']!, extracted: rps['strangler-extracted']!, shadow: rps['strangler-shadow']! };
  for (let i = 2; i < contenders.length; i++) stop(children.pop());

  // Both cores, as production would run them: nginx with two workers, strangler-proxy with two (its cluster
  // mode, through its command). Both may use CPU 0 and 1 and share CPU 1 with wrk: the same handicap for each.
  console.log('\nthroughput on both cores (nginx 2 workers, strangler-proxy 2 workers; both share CPU 1 with wrk, the upstream stays on CPU 0)');
  const nginx2Port = await freePort();
  await nginx('proxy-2-workers', nginxProxy(nginx2Port), 2, '0,1');
  await waitPort(nginx2Port);
  const clusterPorts = { port: await freePort(), admin: await freePort() };
  await stranglerServe(strConfig('cluster', 'monolith', upstream, clusterPorts), clusterPorts.port, 2, '0,1');
  const [nginx2, strangler2] = throughputRounds([
    { name: 'nginx proxy_pass, 2 workers', port: nginx2Port },
    { name: 'strangler-proxy, 2 workers', port: clusterPorts.port, host: '127.0.0.1' },
  ]);
  const both = { nginx: nginx2!, strangler: strangler2! };
  stop(children.pop());
  stop(children.pop());

  const bestOther = Math.max(rps['http-proxy']!, rps['fastify-http-proxy']!);
  const rate = Math.round(strangler.monolith! / 2);
  console.log(`\nlatency at ~${rate} req/s (half of strangler's monolith-mode throughput): wrk, ${PACED_CONNECTIONS} paced connections; each contender warmed up 8 s, then ${LATENCY_ROUNDS} rotating rounds of ${LATENCY_SECONDS} s, medians`);
  // Two references: what a Node server costs with no proxying at all (the floor), and the best-known Node proxy;
  // then strangler in its modes (monolith twice). All measured side by side in rotating rounds.
  const names: Record<string, string> = { 'node-http': 'node http server (no proxy)', 'undici-minimal': 'minimal undici loop', 'fastify-http-proxy': 'fastify-http-proxy' };
  // A second, identical monolith-mode proxy: how far apart the two come out is the method's noise floor.
  // The target figure is shadow mode as configured by default (every request copied); a 10 % sample
  // (shadow.sampleRate 0.1) is measured beside it for reference, not in its place.
  const modes = [
    ['monolith', 'monolith', upstream, 1],
    ['monolith-twin', 'monolith', upstream, 1],
    ['shadow', 'shadow', shadowTarget, 1],
    ['shadow-hanging', 'shadow', hangingUrl, 1],
    ['shadow-sampled-10pct', 'shadow', shadowTarget, 0.1],
  ] as const;
  const group = [{ name: 'direct to upstream', port: upstreamPort }];
  for (const kind of Object.keys(names)) group.push({ name: names[kind]!, port: await contender(kind, upstream) });
  for (const [name, mode, svc, sampleRate] of modes) group.push({ name: `strangler-proxy ${name}`, port: await contender('strangler', upstream, strConfig(`lat-${name}`, mode, svc, undefined, sampleRate)) });
  const measured = alternating(group, rate);
  const direct = measured[0]!;
  const other: Record<string, Latency> = Object.fromEntries(Object.keys(names).map((kind, i) => [kind, measured[1 + i]!]));
  const lat: Record<string, Latency> = Object.fromEntries(modes.map(([name], i) => [name, measured[1 + Object.keys(names).length + i]!]));
  for (let i = 1; i < group.length; i++) stop(children.pop());
  hanging.close();

  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  // Shadow mode is judged against the mean of the two identical monolith-mode proxies.
  const baseP99 = (lat.monolith!.p99 + lat['monolith-twin']!.p99) / 2;
  const figures = {
    machine: { cpus: cpus.length, model: cpus[0]?.model.trim(), memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    connections: CONNECTIONS,
    rps: { direct: Math.round(rps.direct!), nginx: Math.round(rps.nginx!), nodeServerAlone: Math.round(rps['node-http']!), minimalUndici: Math.round(rps['undici-minimal']!), httpProxy: Math.round(rps['http-proxy']!), fastifyHttpProxy: Math.round(rps['fastify-http-proxy']!), stranglerMonolith: Math.round(strangler.monolith!), stranglerExtracted: Math.round(strangler.extracted!), stranglerShadow: Math.round(strangler.shadow!) },
    cpuUsPerRequest: Object.fromEntries(Object.entries(cpuUs).filter(([k, v]) => k !== 'direct' && v !== null).map(([k, v]) => [k, r3(v!)])),
    cpuToMinimalUndici: r3(cpuRatio.median),
    cpuToMinimalUndiciRounds: cpuRatio.rounds.map(r3),
    ratioToNginx: r3(strangler.monolith! / rps.nginx!),
    ratioToBestOtherNode: r3(strangler.monolith! / bestOther),
    floorsToNginx: { nodeServerAlone: r3(rps['node-http']! / rps.nginx!), minimalUndici: r3(rps['undici-minimal']! / rps.nginx!) },
    bothCores: { nginx2Workers: Math.round(both.nginx!), strangler2Workers: Math.round(both.strangler!), ratioToNginx: r3(both.strangler! / both.nginx!) },
    latencyRate: rate,
    addedP50Ms: r3(lat.monolith!.p50 - direct.p50),
    addedP99Ms: r3(lat.monolith!.p99 - direct.p99),
    nodeServerAddedP50Ms: r3(other['node-http']!.p50 - direct.p50),
    nodeServerAddedP99Ms: r3(other['node-http']!.p99 - direct.p99),
    minimalUndiciAddedP50Ms: r3(other['undici-minimal']!.p50 - direct.p50),
    minimalUndiciAddedP99Ms: r3(other['undici-minimal']!.p99 - direct.p99),
    fastifyAddedP50Ms: r3(other['fastify-http-proxy']!.p50 - direct.p50),
    fastifyAddedP99Ms: r3(other['fastify-http-proxy']!.p99 - direct.p99),
    shadowP99ChangePct: r3(((lat.shadow!.p99 - baseP99) / baseP99) * 100),
    hangingShadowP99ChangePct: r3(((lat['shadow-hanging']!.p99 - baseP99) / baseP99) * 100),
    sampledShadow10PctP99ChangePct: r3(((lat['shadow-sampled-10pct']!.p99 - baseP99) / baseP99) * 100),
    monolithTwinsP99DifferPct: r3(((Math.max(lat.monolith!.p99, lat['monolith-twin']!.p99) - Math.min(lat.monolith!.p99, lat['monolith-twin']!.p99)) / Math.min(lat.monolith!.p99, lat['monolith-twin']!.p99)) * 100),
    achievedRps: { direct: Math.round(direct.rps), monolith: Math.round(lat.monolith!.rps), shadow: Math.round(lat.shadow!.rps), shadowHanging: Math.round(lat['shadow-hanging']!.rps) },
  };
  console.log(`\nstrangler-proxy (monolith mode) / nginx:              ${figures.ratioToNginx}  (target ≥ 0.7)`);
  console.log(`strangler-proxy (monolith mode) / best other Node:    ${figures.ratioToBestOtherNode}  (target ≥ 1.3)`);
  console.log(
    `CPU per forwarded request, strangler-proxy (monolith mode) / minimal undici loop: ${figures.cpuToMinimalUndici}  (target ≤ 1.1; median of the rounds' own ratios ${figures.cpuToMinimalUndiciRounds.join(', ')}; medians ${figures.cpuUsPerRequest['strangler-monolith']} / ${figures.cpuUsPerRequest['undici-minimal']} us)`,
  );
  console.log(`  for reference, / nginx: a Node server answering by itself ${figures.floorsToNginx.nodeServerAlone}, a minimal undici loop ${figures.floorsToNginx.minimalUndici}`);
  console.log(`on both cores, strangler-proxy 2 workers / nginx 2 workers: ${figures.bothCores.ratioToNginx}  (${figures.bothCores.strangler2Workers} / ${figures.bothCores.nginx2Workers} req/s)`);
  console.log(`added latency at ~${rate} req/s: p50 ${figures.addedP50Ms} ms (target ≤ 0.2), p99 ${figures.addedP99Ms} ms (target ≤ 1)`);
  console.log(`  for reference: a Node server answering by itself adds p50 ${figures.nodeServerAddedP50Ms} ms, p99 ${figures.nodeServerAddedP99Ms} ms; a minimal undici loop p50 ${figures.minimalUndiciAddedP50Ms} ms, p99 ${figures.minimalUndiciAddedP99Ms} ms; @fastify/http-proxy p50 ${figures.fastifyAddedP50Ms} ms, p99 ${figures.fastifyAddedP99Ms} ms`);
  console.log(`shadow mode p99 change: ${figures.shadowP99ChangePct} % (target ≤ 10); with a hanging shadow target: ${figures.hangingShadowP99ChangePct} %; two identical monolith-mode proxies differ by ${figures.monolithTwinsP99DifferPct} % (the method's noise floor)`);
  console.log(`  for reference, not the target's setting: shadow mode copying a 10 % sample (shadow.sampleRate 0.1): p99 change ${figures.sampledShadow10PctP99ChangePct} %`);
  await admin.query(`DROP DATABASE ${db} WITH (FORCE)`);
  await admin.end();
  console.log(JSON.stringify(figures));
}

runBench(main);
