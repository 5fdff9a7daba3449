import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, isAlive, REPO_ROOT, type StackState } from '@strangler/stack';

/**
 * `npm start` as a user runs it, in a child process with its own state folder
 * and ports: ready, then SIGINT stops every process it started, and nothing
 * is left behind. After a kill -9 of the stack itself, the next start stops
 * what the killed one left running before it starts anew.
 */
describe('stack lifecycle (npm start, Ctrl-C, kill -9)', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-life-'));
    fs.chmodSync(stateDir, 0o755);
    const ports = await Promise.all(Array.from({ length: 9 }, () => freePort()));
    env = {
      ...process.env,
      STRANGLER_STATE_DIR: stateDir,
      STRANGLER_PG_PORT: String(ports[0]),
      STRANGLER_KAFKA_PORT: String(ports[1]),
      STRANGLER_KAFKA_CONTROLLER_PORT: String(ports[2]),
      STRANGLER_CONNECT_PORT: String(ports[3]),
      STRANGLER_MONOLITH_PORT_BASE: String(ports[4]),
      STRANGLER_PROXY_PORT: String(ports[5]),
      STRANGLER_PROXY_ADMIN_PORT: String(ports[6]),
      STRANGLER_EXTRACTED_PORT_BASE: String(ports[7]),
      STRANGLER_CATALOG_PORT: String(ports[8]),
      STRANGLER_TENANTS: 'solo',
      STRANGLER_JVM_HEAP: '512m',
    };
  });

  afterAll(() => {
    // Whatever a failed assertion left running.
    for (const pid of processesMentioning(stateDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  function up(): { child: ChildProcess; output: () => string; ready: Promise<void>; exit: Promise<number | null> } {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'stack/src/cli.ts'), 'up'], { cwd: REPO_ROOT, env });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready after 120 s:\n${output}`)), 120_000);
      child.stdout!.on('data', () => {
        if (output.includes('Ctrl-C stops everything.')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exit.then((code) => {
        clearTimeout(timer);
        reject(new Error(`stack exited (${code}) before ready:\n${output}`));
      });
    });
    return { child, output: () => output, ready, exit };
  }

  const state = (): StackState => JSON.parse(fs.readFileSync(path.join(stateDir, 'stack.json'), 'utf8')) as StackState;

  it('prints its steps and a summary, and Ctrl-C stops every child it started', async () => {
    const run = up();
    try {
      await run.ready;
    } catch (err) {
      run.child.kill('SIGTERM');
      await run.exit;
      throw err;
    }
    const out = run.output();
    expect(out).toMatch(/\[\s*\d+\.\d s\] postgres\s+ready on 127\.0\.0\.1:\d+ \(own instance/);
    expect(out).toMatch(/\[\s*\d+\.\d s\] kafka\s+ready on/);
    expect(out).toMatch(/\[\s*\d+\.\d s\] connect\s+ready on/);
    expect(out).toMatch(/\[\s*\d+\.\d s\] connector solo\s+strangler-solo created, streaming/);
    expect(out).toMatch(/\[\s*\d+\.\d s\] proxy\s+serving http:\/\/127\.0\.0\.1:\d+ \(tenant by host\)/);
    expect(out).toMatch(/ready in \d+\.\d s/);
    expect(out).toMatch(new RegExp(`state folder\\s+${stateDir}\n`));
    const pids = state().processes.map((p) => p.pid);
    expect(state().processes.map((p) => p.name).sort()).toEqual(['backsync', 'catalog', 'connect', 'kafka', 'messaging', 'monolith-solo', 'notifications', 'postgres', 'proxy']);
    expect(pids.every(isAlive)).toBe(true);
    // The proxy fronts the monolith, tenant by host.
    const proxyPort = env.STRANGLER_PROXY_PORT!;
    const viaProxy = await new Promise<{ status: number; via: string | undefined }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: Number(proxyPort), path: '/api/rooms', headers: { host: 'solo.localhost' } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, via: res.headers.via });
      }).on('error', reject);
    });
    expect(viaProxy).toEqual({ status: 200, via: '1.1 strangler' });

    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    expect(run.output()).toContain('stopped');
    expect(pids.filter(isAlive)).toEqual([]);
    expect(processesMentioning(stateDir)).toEqual([]);
    expect(fs.existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
  });

  it('one Ctrl-C during start-up stops at once, from wherever the start has got to, and never says ready', async () => {
    const run = up();
    run.ready.catch(() => {}); // it must not become ready
    // Once PostgreSQL is up and the JVMs are booting: the middle of the start.
    const t0 = Date.now();
    while (!/postgres\s+ready on/.test(run.output()) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
    expect(run.output()).toMatch(/postgres\s+ready on/);
    // The terminal's SIGINT and npm's relayed copy arrive as two: one press, one stop.
    run.child.kill('SIGINT');
    run.child.kill('SIGINT');
    const asked = Date.now();
    const code = await run.exit;
    const tookMs = Date.now() - asked;
    const out = run.output();
    expect(code).toBe(130);
    expect(out).toContain('SIGINT: stopping the start where it has got to');
    expect(out).not.toContain('killing every process at once');
    expect(out).not.toMatch(/ready in \d/);
    expect(out).not.toContain('Ctrl-C stops everything.');
    expect(out.trimEnd().endsWith('stopped')).toBe(true);
    expect(tookMs).toBeLessThan(20_000);
    // Nothing left behind, and a later start needs no cleanup.
    await new Promise((r) => setTimeout(r, 2000));
    expect(processesMentioning(stateDir)).toEqual([]);
    expect(fs.existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
  });

  it('after a kill -9 of the stack, the next start stops what it left behind', async () => {
    const first = up();
    await first.ready;
    const orphans = state().processes.map((p) => p.pid);
    first.child.kill('SIGKILL');
    await first.exit;
    expect(orphans.filter(isAlive).length).toBe(orphans.length);

    const second = up();
    await second.ready;
    expect(second.output()).toMatch(/cleanup\s+stopped what an earlier, killed run left behind: .*postgres/);
    expect(orphans.filter(isAlive)).toEqual([]);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
    expect(processesMentioning(stateDir)).toEqual([]);
  });
});

/** Every live process whose command line names `marker` (our children all carry the state folder). */
function processesMentioning(marker: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}
