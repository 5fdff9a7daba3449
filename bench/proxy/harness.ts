/**
 * What the benchmarks that drive servers with wrk share: pinned child
 * processes (strangler and the other contenders), Debian's nginx and wrk
 * (installed with apt-get when missing and root), paced latency runs, and a
 * clean shutdown that leaves no process behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-bench-proxy-'));
export const children: ChildProcess[] = [];
/** nginx masters and strangler cluster primaries: stopped with SIGTERM, so they take their workers along (SIGKILL would orphan them). */
export const masters = new Set<ChildProcess>();
/** Where servers run: CPU 0 (the load generator has CPU 1), both cores for the contenders that use them, or CPU 1 at idle priority (the shadow target). */
export type Cpus = '0' | '1' | '0,1';
export const PG = process.env.STRANGLER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const CONNECTIONS = 64;
export const THROUGHPUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
export const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 10);
export { BODY } from './body';

export function need(binary: string, pkg: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
    const p = path.join(dir, binary);
    if (fs.existsSync(p)) return p;
  }
  if (process.getuid?.() === 0) {
    console.log(`bench: installing ${pkg} from Debian's packages (apt-get)...`);
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return need(binary, pkg);
  }
  throw new Error(`${binary} is needed: sudo apt-get install -y ${pkg}`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Debian's nginx with `server` as its http block's servers, pinned to `cpus`; `idle` runs it under SCHED_IDLE (chrt --idle). */
export async function nginx(name: string, server: string, workers = 1, cpus: Cpus = '0', idle = false): Promise<number> {
  const prefix = path.join(WORK, name);
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `worker_processes ${workers};\ndaemon off;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log warn;\nevents { worker_connections 4096; }\n` +
      `http {\n  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 65;\n  client_body_temp_path ${prefix}/tmp;\n  proxy_temp_path ${prefix}/ptmp;\n${server}\n}\n`,
  );
  const pinned = ['taskset', '-c', cpus, need('nginx', 'nginx-light'), '-p', prefix, '-c', conf];
  const [command, ...args] = idle ? [need('chrt', 'util-linux'), '--idle', '0', ...pinned] : pinned;
  const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  masters.add(child);
  return child.pid!;
}

/** The process (and its workers) serving a contender's port, for CPU accounting: set by contender(), or by the caller for nginx. */
export const pidOf = new Map<number, number>();

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system, every thread) of a process and all its descendants so far (nginx's workers, a cluster's). */
export function treeCpuSeconds(pid: number): number {
  let total = 0;
  const visit = (p: number) => {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
    } catch {
      return; // gone meanwhile
    }
    // After "(comm) ", fields start at the 3rd (state): utime is the 14th, stime the 15th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    for (const tid of safeList(`/proc/${p}/task`)) {
      for (const child of safeRead(`/proc/${p}/task/${tid}/children`).split(' ').filter(Boolean)) visit(Number(child));
    }
  };
  visit(pid);
  return total;
}

const safeList = (dir: string) => {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
};
const safeRead = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

export async function contender(kind: string, upstream: string, config?: string): Promise<number> {
  const child = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', path.join(__dirname, 'contender.ts'), kind, upstream, ...(config ? [config] : [])], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /READY (\d+)/.exec(out);
      if (m) {
        pidOf.set(Number(m[1]), child.pid!);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${kind} exited ${code}`)));
  });
}

/**
 * strangler-proxy as an operator runs it, through its command (`proxy serve`), with
 * `workers` processes on `cpus`; the config must name its ports. Resolves when it serves.
 */
export async function stranglerServe(config: string, port: number, workers: number, cpus: Cpus): Promise<void> {
  const child = spawn('taskset', ['-c', cpus, process.execPath, '--import', 'tsx', path.join(ROOT, 'cli/src/main.ts'), 'proxy', 'serve', '--config', config, '--workers', String(workers)], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  children.push(child);
  masters.add(child);
  await waitPort(port);
}

export function stop(child: ChildProcess | undefined): void {
  if (child && child.exitCode === null) child.kill(masters.has(child) ? 'SIGTERM' : 'SIGKILL');
}

export function wrk(port: number, host: string, seconds: number): number {
  return wrkRun(port, host, seconds).rps;
}

/** One wrk run: its rate, and how many requests it completed (what a CPU figure per request divides by). */
export function wrkRun(port: number, host: string, seconds: number): { rps: number; requests: number } {
  const args = ['-c', '1', need('wrk', 'wrk'), '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '-H', `Host: ${host}`, `http://127.0.0.1:${port}/bench`];
  const out = execFileSync('taskset', args, { encoding: 'utf8' });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const requests = /(\d+) requests in/.exec(out);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  if (errors) console.log(`  (wrk reported: ${errors[0]})`);
  return { rps: rps ? Number(rps[1]) : NaN, requests: requests ? Number(requests[1]) : NaN };
}

export const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/**
 * The median over rounds of a / b measured in the same round. The host's
 * speed moves even CPU time per request (40 to 70 us for one contender
 * within minutes, seen on this AMD host): a ratio taken inside each round,
 * where both ran within seconds of each other, holds far better than the
 * ratio of two medians taken from different minutes.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): { median: number; rounds: number[] } {
  const rounds = a.map((x, i) => x / b[i]!).filter((r) => Number.isFinite(r));
  return { median: median(rounds), rounds };
}

export const THROUGHPUT_ROUNDS = Number(process.env.BENCH_THROUGHPUT_ROUNDS ?? 3);

/**
 * Closed-loop throughput of contenders that all run at once (idle but the one
 * measured): each warmed up 2 s (JIT, connection pools), then measured in
 * rotating rounds (A B C, B C A, ...), each figure the median of its rounds,
 * so that a host whose speed drifts from minute to minute (seen here: 35 %
 * within ten minutes) moves every contender alike.
 */
export function throughputRounds(contenders: ReadonlyArray<{ name: string; port: number; host?: string }>, rounds = THROUGHPUT_ROUNDS): number[] {
  return throughputAndCpu(contenders, rounds).rps;
}

/**
 * throughputRounds, and beside each rate the CPU the contender's own
 * process (and its workers) spent per request it answered in the same
 * rounds, in microseconds (the median of its rounds; null without a known
 * pid). A rate swings with the host's speed from minute to minute; CPU
 * spent per request moves far less, since it does not count the time the
 * process waited for a core.
 */
export function throughputAndCpu(
  contenders: ReadonlyArray<{ name: string; port: number; host?: string }>,
  rounds = THROUGHPUT_ROUNDS,
): { rps: number[]; cpuUs: Array<number | null>; cpuRounds: number[][] } {
  const host = (c: { port: number; host?: string }) => c.host ?? `127.0.0.1:${c.port}`;
  for (const c of contenders) wrk(c.port, host(c), 2);
  const runs: number[][] = contenders.map(() => []);
  const cpu: number[][] = contenders.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (r + k) % contenders.length;
      const c = contenders[i]!;
      const pid = pidOf.get(c.port);
      const before = pid === undefined ? 0 : treeCpuSeconds(pid);
      const run = wrkRun(c.port, host(c), THROUGHPUT_SECONDS);
      runs[i]!.push(run.rps);
      if (pid !== undefined && run.requests > 0) cpu[i]!.push(((treeCpuSeconds(pid) - before) * 1e6) / run.requests);
    }
  }
  const rps = runs.map((rs, i) => {
    const m = median(rs);
    const us = cpu[i]!.length > 0 ? median(cpu[i]!) : null;
    const cpuText = us === null ? '' : `   ${us.toFixed(1).padStart(6)} us CPU/request (rounds: ${cpu[i]!.map((x) => x.toFixed(1)).join(', ')})`;
    console.log(`  ${contenders[i]!.name.padEnd(32)} ${Math.round(m).toString().padStart(8)} req/s  (rounds: ${rs.map((x) => Math.round(x)).join(', ')})${cpuText}`);
    return m;
  });
  return { rps, cpuUs: cpu.map((c) => (c.length > 0 ? median(c) : null)), cpuRounds: cpu };
}

export interface Latency { rps: number; p50: number; p90: number; p99: number }

export const PACED_CONNECTIONS = 16;

/** wrk's latency line value ("241.00us", "3.28ms", "1.02s") in ms. */
export function ms(v: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

export const LATENCY_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/**
 * Paced latency of contenders compared with each other: each warmed up (8 s,
 * not counted), then measured in rotating rounds (A B C, B C A, C A B, ...),
 * and each figure the median of its rounds. Minute-to-minute drift on a shared
 * VM (2-4x on a p99) then falls on every contender alike instead of on
 * whichever ran in a bad minute.
 */
export function alternating(contenders: ReadonlyArray<{ name: string; port: number }>, rate: number, rounds = LATENCY_ROUNDS): Latency[] {
  const pace = Math.max(1, Math.round((PACED_CONNECTIONS * 1000) / rate));
  for (const c of contenders) paced(c.port, pace, 8);
  const runs: Latency[][] = contenders.map(() => []);
  for (let r = 0; r < rounds; r++) {
    // Each round starts with the next contender, so none always runs first or right after a given other.
    for (let k = 0; k < contenders.length; k++) {
      const i = (r + k) % contenders.length;
      runs[i]!.push(report(`${contenders[i]!.name} (round ${r + 1})`, paced(contenders[i]!.port, pace, LATENCY_SECONDS)));
    }
  }
  return runs.map((rs, i) => {
    const m = { rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p90: median(rs.map((x) => x.p90)), p99: median(rs.map((x) => x.p99)) };
    printLatency(`${contenders[i]!.name}, median`, m);
    return m;
  });
}

function paced(port: number, pace: number, seconds: number): string {
  const args = ['-c', '1', need('wrk', 'wrk'), '-t1', `-c${PACED_CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', path.join(__dirname, 'pace.lua'), '-H', 'Host: 127.0.0.1', `http://127.0.0.1:${port}/bench`];
  return execFileSync('taskset', args, { encoding: 'utf8', env: { ...process.env, PACE_MS: String(pace) } });
}

function report(name: string, out: string): Latency {
  const pct = (p: string) => ms(new RegExp(`\\s${p}%\\s+(\\S+)`).exec(out)?.[1] ?? '');
  const r = { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p50: pct('50'), p90: pct('90'), p99: pct('99') };
  printLatency(name, r);
  return r;
}

function printLatency(name: string, r: Latency): void {
  console.log(`  ${name.padEnd(30)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50.toFixed(3)} ms  p90 ${r.p90.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms`);
}

/** Last resort on exit: signals only (nothing asynchronous runs any more). */
export function cleanup(): void {
  for (const c of children) stop(c);
}

/** The normal way out: stop everyone, wait for the nginx masters to take their workers down, then remove the files. */
export async function shutdown(): Promise<void> {
  const exits = [...masters].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r)));
  cleanup();
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 3000))]);
  fs.rmSync(WORK, { recursive: true, force: true });
}

/** Runs a benchmark's main: exit code 1 on failure, and every process it started stopped on the way out (Ctrl-C too). */
export function runBench(main: () => Promise<void>): void {
  process.on('exit', cleanup);
  process.on('SIGINT', () => process.exit(130));
  void main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(async () => {
      await shutdown();
      setTimeout(() => process.exit(), 100).unref();
    });
}
