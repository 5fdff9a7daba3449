import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { ProxyMetrics } from '../src/metrics';
import type { ShadowExchange } from '../src/shadow/exchange';
import { ShadowMirror } from '../src/shadow/mirror';

/** The shadow mirror against a real upstream on port 0: what a copy records when it completes, hangs, or answers too much. */
describe('shadow mirror', () => {
  let server: http.Server;
  let pool: Pool;
  const exchanges: ShadowExchange[] = [];
  const metrics = new ProxyMetrics(false);
  const mirror = () => new ShadowMirror({ queue: 10, concurrency: 4, timeoutMs: 300, maxBodyBytes: 1000 }, [{ record: (e) => exchanges.push(e) }], metrics);
  const primary = { status: 200, headers: {}, body: Buffer.from('{}'), truncated: false, ms: 1 };
  const job = (path: string) => ({ route: 'r', tenant: 't', service: 's', dispatcher: pool, method: 'GET', path, headers: ['host', 'upstream'], body: null, primary });
  const next = async () => {
    const start = exchanges.length;
    for (let i = 0; i < 200 && exchanges.length === start; i++) await new Promise((r) => setTimeout(r, 10));
    return exchanges[start]!;
  };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      if (req.url === '/big') return void res.end('x'.repeat(5000));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    await pool.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('records a completed copy with its status, headers, body and time', async () => {
    mirror().submit(job('/ok'));
    const e = await next();
    expect('error' in e.shadow).toBe(false);
    const shadow = e.shadow as Exclude<ShadowExchange['shadow'], { error: string }>;
    expect([shadow.status, shadow.headers['content-type'], shadow.body.toString(), shadow.truncated]).toEqual([200, 'application/json', '{"path":"/ok"}', false]);
    expect(shadow.ms).toBeGreaterThan(0);
  });

  it('gives up on a copy that does not answer within its timeout, and counts it', async () => {
    const t = Date.now();
    mirror().submit(job('/hang'));
    const e = await next();
    expect(e.shadow).toMatchObject({ error: 'no answer within 300 ms' });
    expect(Date.now() - t).toBeLessThan(1500);
    expect(await metrics.render()).toMatch(/strangler_proxy_shadow_total\{route="r",outcome="timeout"\} 1/);
  });

  it('keeps no more of an answer than the body cap, marked truncated', async () => {
    mirror().submit(job('/big'));
    const e = await next();
    expect(e.shadow).toMatchObject({ status: 200, truncated: true });
    expect((e.shadow as { body: Buffer }).body.length).toBeLessThanOrEqual(1000);
  });

  it('stops copies to a service whose copies keep failing (a breaker of their own), and says so before anything is captured', async () => {
    const m = new ShadowMirror({ queue: 10, concurrency: 4, timeoutMs: 50, maxBodyBytes: 1000 }, [{ record: (e) => exchanges.push(e) }], metrics, () => ({ failures: 3, windowMs: 10_000, openMs: 60_000 }));
    expect(m.admits('s')).toBe('yes');
    for (let i = 0; i < 3; i++) {
      m.submit(job('/hang'));
      await next();
    }
    expect(m.admits('s')).toBe('skipped_shadow_failing');
    expect(m.admits('another service')).toBe('yes');
    m.submit(job('/ok'));
    expect(await metrics.render()).toMatch(/strangler_proxy_shadow_total\{route="r",outcome="skipped_shadow_failing"\} 1/);
  });
});
