import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProxyMetrics } from '../src/metrics';
import { CircuitBreaker } from '../src/forward/breaker';
import { NOISE_DEFAULTS } from '../src/parity/noise';
import { ShadowMirror, type MirrorJob } from '../src/shadow/mirror';
import { ReportPacker } from '../src/shadow/report-codec';
import type { CopyReport, ThreadConfig } from '../src/shadow/protocol';

/**
 * The shadow mirror and its thread against a real upstream on port 0: what a
 * copy reports and records when it completes, hangs or answers too much, the
 * copies' own breaker, the thread's priority, and a thread that dies.
 */
describe('shadow mirror (copies in a thread of their own)', () => {
  let server: http.Server;
  let origin: string;
  const mirrors: ShadowMirror[] = [];
  const metrics = new ProxyMetrics(false);
  const config = (over: Partial<ThreadConfig['copies']> = {}): ThreadConfig => ({
    copies: { queue: 10, concurrency: 4, timeoutMs: 300, maxBodyBytes: 1000, ...over },
    keep: 50,
    mismatchSamplesPerMinute: 0,
    redact: { headers: ['authorization'], jsonPaths: [] },
    rules: { r: {} },
    noise: NOISE_DEFAULTS,
    databases: {},
  });
  const make = (c = config(), breaker?: () => { failures: number; windowMs: number; openMs: number }, ringBytes?: number) => {
    const reports: CopyReport[] = [];
    const warnings: string[] = [];
    const m = new ShadowMirror(c, 19, metrics, { report: (r) => reports.push(r), warn: (msg) => warnings.push(msg) }, breaker, ringBytes);
    mirrors.push(m);
    const next = async (n = 1) => {
      for (let i = 0; i < 300 && reports.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      return reports[n - 1]!;
    };
    return { m, reports, warnings, next };
  };
  const primaryChunks = () => [Buffer.from('{"path":'), Buffer.from('"/ok"}')];
  const job = (path: string, over: Partial<MirrorJob> = {}): MirrorJob => ({
    route: 'r',
    tenant: 't',
    service: 's',
    origin,
    requestedAt: Date.now(),
    method: 'GET',
    path,
    headers: ['host', 'upstream', 'authorization', 'Bearer secret'],
    body: null,
    primary: { status: 200, headers: { 'content-type': 'application/json' }, chunks: primaryChunks(), size: 14, truncated: false, ms: 1 },
    ...over,
  });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      if (req.url === '/big') return void res.end('x'.repeat(5000));
      if (req.url === '/slow') return void setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: '/ok' })), 300);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await Promise.all(mirrors.map((m) => m.close()));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends a copy from the thread, compares it there and reports what it adds to the figures; the exchange is kept, credentials redacted', async () => {
    const { m, next } = make();
    m.submit(job('/ok'));
    expect(await next()).toMatchObject({ route: 'r', tenant: 't', outcome: 'completed', status: 200, counts: { samples: 1, mismatches: 0 } });
    const [e] = (await m.recent()) as Array<{ shadow: { status: number; body: string; ms: number }; primary: { body: string }; request: { headers: Record<string, string> } }>;
    expect([e!.shadow.status, e!.shadow.body, e!.primary.body]).toEqual([200, '{"path":"/ok"}', '{"path":"/ok"}']);
    expect(e!.shadow.ms).toBeGreaterThan(0);
    expect(e!.request.headers.authorization).toBe('[redacted]');
    expect(m.depth).toBe(0);
  });

  it('counts a different answer as a mismatch', async () => {
    const { m, next } = make();
    m.submit(job('/other'));
    expect(await next()).toMatchObject({ outcome: 'completed', counts: { samples: 1, mismatches: 1 } });
  });

  it('runs the thread at the configured nice value (Linux), leaving the process at its own', async () => {
    const { m, next } = make();
    m.submit(job('/ok'));
    await next();
    if (process.platform !== 'linux') return;
    const info = m.threadInfo!;
    expect(info.priority).toBe(19);
    // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value; the main thread keeps 0.
    const nice = (tid: number) => Number(fs.readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    expect(nice(info.tid!)).toBe(19);
    expect(nice(process.pid)).toBe(0);
  });

  it('gives up on a copy that does not answer within its timeout, and counts it', async () => {
    const { m, next } = make();
    const t = Date.now();
    m.submit(job('/hang'));
    expect(await next()).toMatchObject({ outcome: 'timeout', status: 0, counts: { shadowErrors: 1 } });
    expect(Date.now() - t).toBeLessThan(1500);
    expect(await metrics.render()).toMatch(/strangler_proxy_shadow_total\{route="r",outcome="timeout"\} [1-9]/);
  });

  it('keeps no more of an answer than the body cap, marked truncated (an error of the copy, never a mismatch)', async () => {
    const { m, next } = make();
    m.submit(job('/big'));
    expect(await next()).toMatchObject({ outcome: 'completed', counts: { shadowErrors: 1 } });
    const [e] = (await m.recent()) as Array<{ shadow: { truncated: boolean; body: string } }>;
    expect(e!.shadow.truncated).toBe(true);
    expect(e!.shadow.body.length).toBeLessThanOrEqual(1000);
  });

  it('carries the request body and the primary chunks through the shared ring, leaving the caller buffers as they were', async () => {
    const { m, next } = make();
    const body = Buffer.from('{"amount":"12.50"}');
    m.submit(job('/ok', { method: 'POST', body }));
    await next();
    const [e] = (await m.recent()) as Array<{ request: { body: string }; primary: { body: string } }>;
    expect([e!.request.body, e!.primary.body, body.toString()]).toEqual(['{"amount":"12.50"}', '{"path":"/ok"}', '{"amount":"12.50"}']);
  });

  it('drops a copy whose bodies do not fit in the ring now, and counts it', async () => {
    const { m, next } = make(config(), undefined, 20);
    m.submit(job('/ok', { method: 'POST', body: Buffer.from('0123456789') })); // 10 + 14 bytes > 20
    expect(await metrics.render()).toMatch(/strangler_proxy_shadow_total\{route="r",outcome="dropped_buffer_full"\} 1/);
    m.submit(job('/ok'));
    expect(await next()).toMatchObject({ outcome: 'completed', counts: { samples: 1, mismatches: 0 } });
  });

  it('gives the copies breaker its half-open probe back when that copy is dropped for a full ring', async () => {
    const { m, next } = make(config({ timeoutMs: 50 }), () => ({ failures: 1, windowMs: 10_000, openMs: 50 }), 40);
    m.submit(job('/hang'));
    await next();
    expect(m.admits('s')).toBe('skipped_shadow_failing');
    await new Promise((r) => setTimeout(r, 80));
    expect(m.admits('s')).toBe('yes'); // half-open: the next copy is the probe
    m.submit(job('/ok', { method: 'POST', body: Buffer.alloc(64) })); // takes the probe, cannot fit in the ring
    expect(m.admits('s')).toBe('yes');
    m.submit(job('/ok'));
    expect(await next(2)).toMatchObject({ outcome: 'completed' });
  });

  it('bounds what it holds: past queue + concurrency, copies are dropped and counted', async () => {
    const { m, next } = make(config({ queue: 2, concurrency: 1, timeoutMs: 200 }));
    for (let i = 0; i < 3; i++) m.submit(job('/hang'));
    expect(m.admits('s')).toBe('dropped_queue_full');
    m.submit(job('/hang'));
    expect(await metrics.render()).toMatch(/strangler_proxy_shadow_total\{route="r",outcome="dropped_queue_full"\} 1/);
    await next(3);
    expect(m.admits('s')).toBe('yes');
  });

  it('stops copies to a service whose copies keep failing (a breaker of their own), and says so before anything is captured', async () => {
    const { m, next } = make(config({ timeoutMs: 50 }), () => ({ failures: 3, windowMs: 10_000, openMs: 60_000 }));
    expect(m.admits('s')).toBe('yes');
    for (let i = 1; i <= 3; i++) {
      m.submit(job('/hang'));
      await next(i);
    }
    expect(m.admits('s')).toBe('skipped_shadow_failing');
    expect(m.admits('another service')).toBe('yes');
    m.submit(job('/ok'));
    expect(await metrics.render()).toMatch(/strangler_proxy_shadow_total\{route="r",outcome="skipped_shadow_failing"\} 1/);
  });

  it('counts a starved copy without feeding either breaker (the thread, not the service, was late)', async () => {
    // The copies' breaker opens at the first failure, as does the route's: one timeout would open both.
    const { m, reports } = make(config({ timeoutMs: 5000 }), () => ({ failures: 1, windowMs: 10_000, openMs: 60_000 }));
    // The copy is the service's half-open probe (its breaker opened, and its open time has passed).
    let now = 0;
    const routeBreaker = new CircuitBreaker({ failures: 1, windowMs: 10_000, openMs: 1000 }, undefined, () => now);
    routeBreaker.failure();
    now = 1000;
    expect(routeBreaker.allow()).toBe(true);
    expect(routeBreaker.state).toBe('half-open');
    m.submit(job('/hang', { breaker: routeBreaker }));
    // The thread's report that the copy's timer fired too late to judge it, as the thread packs it
    // (a copy that starves for real needs a host too busy to run the thread; its timing cannot be made exact).
    // Counted from here: on a busy host an earlier copy may have starved for real.
    const starved = async () => Number(/strangler_proxy_shadow_total\{route="r",outcome="starved"\} (\d+)/.exec(await metrics.render())?.[1] ?? 0);
    const starvedBefore = await starved();
    const packer = new ReportPacker();
    packer.add(1, 'starved', 0, null);
    (m as unknown as { received(msg: unknown): void }).received({ t: 'reports', batch: packer.take() });
    expect(reports).toMatchObject([{ seq: 1, route: 'r', tenant: 't', service: 's', outcome: 'starved' }]);
    expect(await starved()).toBe(starvedBefore + 1);
    expect(m.admits('s')).toBe('yes');
    // The probe is given back, not judged: still half-open, and the next request may probe.
    expect(routeBreaker.state).toBe('half-open');
    expect(routeBreaker.admits()).toBe(true);
    // A plain timeout of the same copy, for contrast, opens the copies' breaker.
    m.submit(job('/hang'));
    packer.add(2, 'timeout', 0, null);
    (m as unknown as { received(msg: unknown): void }).received({ t: 'reports', batch: packer.take() });
    expect(m.admits('s')).toBe('skipped_shadow_failing');
  });

  it('hands copies submitted together to the thread in one message (one wake-up)', async () => {
    const { m, next, reports } = make();
    m.submit(job('/ok', { method: 'POST', body: Buffer.from('first') })); // starts the thread
    const thread = (m as unknown as { thread: { postMessage(msg: { t: string; jobs?: unknown[] }): void } }).thread;
    const posted: Array<{ t: string; jobs?: unknown[] }> = [];
    const post = thread.postMessage.bind(thread);
    thread.postMessage = (msg) => {
      posted.push(msg);
      post(msg);
    };
    for (let i = 1; i < 5; i++) m.submit(job('/ok', { method: 'POST', body: Buffer.from(`body ${i}`) }));
    await next(5);
    expect(posted.filter((p) => p.t === 'jobs').map((p) => p.jobs!.length)).toEqual([5]);
    expect(reports.map((r) => r.outcome)).toEqual(Array(5).fill('completed'));
  });

  it('lets a copy in flight finish when it closes, then the thread ends (no waiting for the timeout)', async () => {
    const { m, reports } = make(config({ timeoutMs: 5000 }));
    m.submit(job('/slow'));
    const t = Date.now();
    await m.close();
    expect(Date.now() - t).toBeLessThan(2000);
    expect(reports).toMatchObject([{ outcome: 'completed', counts: { samples: 1, mismatches: 0 } }]);
    expect(m.admits('s')).toBe('dropped_queue_full');
  });

  it('counts the copies of a thread that dies as lost, says so, and starts a new thread after a second', async () => {
    const { m, next, warnings } = make(config({ timeoutMs: 5000 }));
    m.submit(job('/ok'));
    await next();
    m.submit(job('/hang'));
    expect(m.depth).toBe(1);
    await (m as unknown as { thread: { terminate(): Promise<number> } }).thread.terminate();
    for (let i = 0; i < 100 && m.depth > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(m.depth).toBe(0);
    expect(warnings.join('\n')).toMatch(/shadow thread stopped/);
    expect(await metrics.render()).toMatch(/strangler_proxy_shadow_total\{route="r",outcome="lost"\} 1/);
    expect(m.admits('s')).toBe('skipped_thread_down');
    await new Promise((r) => setTimeout(r, 1100));
    expect(m.admits('s')).toBe('yes');
    m.submit(job('/ok'));
    expect(await next(2)).toMatchObject({ outcome: 'completed' });
  });
});
