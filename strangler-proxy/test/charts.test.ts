import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { findChromium } from '../../e2e/support/browser';
import type { ProxyConfigInput } from '../src/config/schema';
import { WRITE_TOKEN, admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

const REPO = path.resolve(__dirname, '..', '..');
const run = promisify(execFile);
type Point = { at: string; monolith: number; extracted: number; fallback: number; monolithP50: number | null; serviceP50: number | null; writesMonolith: number };
type Doc = { document: { querySelector(q: string): { getAttribute(a: string): string | null; textContent: string | null } | null } };

const sum = (points: Point[], k: keyof Point) => points.reduce((s, p) => s + (p[k] as number), 0);

/**
 * The figures over time (GET /history, GET /progress) and the dashboard's
 * charts and progress view, against real proxies on one control store: two
 * replicas' counts add up, a flip is a mark, the figures outlive the proxy,
 * and in headless Chromium a flip made on the page draws its mark and the
 * service's line, and moves the progress share.
 */
describe('charts and progress', () => {
  let monolith: Upstream;
  let service: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let browser: Browser;

  const config = (): ProxyConfigInput =>
    baseConfig(store.url, { acme: monolith.url, globex: monolith.url }, {
      services: { messaging: { url: service.url } },
      routes: [
        { id: 'rooms-read', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith' },
        { id: 'rooms-write', match: { method: 'POST', path: '/api/rooms' }, service: 'messaging', mode: 'monolith' },
        { id: 'users', match: { path: '/api/users/*' }, mode: 'monolith' },
      ],
      history: { intervalMs: 500 },
    });

  beforeAll(async () => {
    [monolith, service, store] = await Promise.all([startUpstream('monolith'), startUpstream('service'), controlStore()]);
    browser = await chromium.launch({ executablePath: findChromium(), args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([monolith?.close(), service?.close()]);
    await store?.drop();
  });

  it("adds up every replica's counts per bucket, marks a flip, refuses bad windows, and keeps the figures across a restart", async () => {
    const a = await startProxy(config());
    let b: TestProxy | null = await startProxy(config());
    let c: TestProxy | null = null;
    try {
      for (let i = 0; i < 6; i++) expect((await get(`${a.url}/api/rooms/${i}`, 'acme.localhost')).status).toBe(200);
      for (let i = 0; i < 4; i++) expect((await get(`${b.url}/api/rooms/${i}`, 'acme.localhost')).status).toBe(200);
      const points = async (p: TestProxy, window = '15m') => {
        const r = await admin(p, 'GET', `/history?window=${window}&route=rooms-read&tenant=acme`);
        expect(r.status).toBe(200);
        return (r.json.routes.find((x: { route: string; tenant: string }) => x.route === 'rooms-read' && x.tenant === 'acme')?.points ?? []) as Point[];
      };
      await eventually(async () => sum(await points(a), 'monolith') === 10, 10_000);
      expect(sum(await points(b), 'monolith')).toBe(10); // whichever replica answers
      expect((await points(a)).find((p) => p.monolith > 0)!.monolithP50).toEqual(expect.any(Number));

      expect((await admin(a, 'PUT', '/routes/rooms-read/mode', { mode: 'extracted', tenant: 'acme', reason: 'charts test' })).status).toBe(200);
      await eventually(async () => (await admin(b!, 'GET', '/routes/rooms-read')).json.tenants.acme.mode === 'extracted', 10_000);
      for (let i = 0; i < 3; i++) expect((await get(`${b.url}/api/rooms/${i}`, 'acme.localhost')).json.from).toBe('service');
      await eventually(async () => sum(await points(a), 'extracted') === 3, 10_000);
      const h = (await admin(a, 'GET', '/history?window=1h&route=rooms-read&tenant=acme')).json;
      expect(h).toMatchObject({ window: '1h', resolutionS: 5 });
      expect(h.marks).toContainEqual(expect.objectContaining({ kind: 'flip', route: 'rooms-read', tenant: 'acme', text: 'rooms-read [acme]: (inherited) -> extracted by ops (api): charts test' }));
      // The coarser resolutions hold the same counts.
      expect(sum(await points(a, '6h'), 'monolith')).toBe(10);
      expect(sum(await points(a, '24h'), 'extracted')).toBe(3);

      const progress = (await admin(a, 'GET', '/progress?window=15m')).json;
      const acme = progress.tenants.find((t: { tenant: string }) => t.tenant === 'acme');
      expect(acme).toMatchObject({ requests: 13, extracted: 3, routes: { moved: ['rooms-read'], moving: [], monolith: ['rooms-write', 'users'] } });
      expect(progress.trail[0]).toMatchObject({ kind: 'flip', route: 'rooms-read' });

      for (const [q, status, code] of [
        ['/history?window=2h', 400, 'STR_ERR_ADMIN_BAD_REQUEST'],
        ['/history?route=nope', 404, 'STR_ERR_ROUTE_UNKNOWN'],
        ['/history?tenant=nope', 404, 'STR_ERR_TENANT_UNKNOWN'],
        ['/progress?window=forever', 400, 'STR_ERR_ADMIN_BAD_REQUEST'],
      ] as const) {
        const r = await admin(a, 'GET', q);
        expect({ q, status: r.status, code: r.json.error.code }).toEqual({ q, status, code });
      }
      const unauth = await fetch(`${a.admin}/history`);
      expect(unauth.status).toBe(401);

      // The same through the CLI: text, JSON, and a clear refusal of a window it does not know.
      const env = { ...process.env, STRANGLER_ADMIN_URL: a.admin, STRANGLER_ADMIN_TOKEN: WRITE_TOKEN };
      const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'progress', ...args], { env, cwd: REPO });
      const text = (await cli('--window', '1h')).stdout;
      expect(text).toMatch(/new services answered 23\.1 % of 13 requests and no writes came/);
      expect(text).toMatch(/^acme\s+23\.1 % of 13\s+-\s+rooms-read\s+-\s+rooms-write,users\s+-$/m);
      expect(text).toMatch(/flip: rooms-read \[acme\]: \(inherited\) -> extracted by ops \(api\): charts test/);
      expect(JSON.parse((await cli('--json', '--window', '15m')).stdout)).toMatchObject({ window: '15m', overall: { requests: 13, extracted: 3 } });
      const bad = (await cli('--window', '2h').catch((e: unknown) => e)) as { code: number; stderr: string };
      expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 1, stderr: expect.stringContaining("option '--window <window>' argument '2h' is invalid. Allowed choices are 15m, 1h, 6h, 24h, 7d.") });

      // A stopping proxy adds what it counted last; a new one reads everything back from the store.
      expect((await get(`${b.url}/api/rooms/9`, 'acme.localhost')).status).toBe(200);
      await b.stop();
      b = null;
      await a.stop();
      c = await startProxy(config());
      expect(sum(await points(c), 'extracted')).toBe(4);
      expect(sum(await points(c), 'monolith')).toBe(10);
    } finally {
      await b?.stop();
      await c?.stop();
      await a.stop().catch(() => {});
    }
  });

  it('draws a flip made on the page as a mark, the service taking the traffic as a line, and moves the progress share', async () => {
    const proxy = await startProxy(config());
    const page = await browser.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => m.type() === 'error' && blocked.push(m.text()));
    const attr = (selector: string, name: string) => page.evaluate(([s, n]) => (globalThis as unknown as Doc).document.querySelector(s)?.getAttribute(n) ?? null, [selector, name] as const);
    try {
      // Reset to the monolith for globex (the first test flipped acme only; this test uses globex).
      for (let i = 0; i < 8; i++) expect((await get(`${proxy.url}/api/rooms/${i}`, 'globex.localhost')).status).toBe(200);
      await page.goto(`${proxy.admin}/dashboard`);
      await page.fill('#token', WRITE_TOKEN);
      await page.click('#login button[type=submit]');
      await page.waitForSelector('#chart-route option[value="rooms-read"]', { state: 'attached' });
      await page.selectOption('#chart-route', 'rooms-read');
      await page.selectOption('#chart-tenant', 'globex');
      // The monolith's line is drawn, the service's is flat, and nothing on the new services yet for globex.
      await page.waitForFunction(() => (globalThis as unknown as Doc).document.querySelector('#chart-note')?.getAttribute('data-drawn') === '15m|rooms-read|globex', null, { timeout: 15_000 });
      await page.waitForFunction(() => Number((globalThis as unknown as Doc).document.querySelector('#chart-requests path[data-series="monolith"]')?.getAttribute('data-max')) > 0, null, { timeout: 15_000 });
      expect(await attr('#chart-requests path[data-series="extracted"]', 'data-max')).toBe('0');
      expect(await page.textContent('#progress-tenants tr[data-tenant="globex"] td.share')).toBe('0.0 %');

      // The flip, from the page.
      await page.fill('#reason', 'globex reads move');
      await page.selectOption('#flip-route', 'rooms-read');
      await page.selectOption('#flip-tenant', 'globex');
      await page.selectOption('#flip-mode', 'extracted');
      await page.click('#flip-set');
      await page.waitForFunction(() => (globalThis as unknown as Doc).document.querySelector('#outcome')?.textContent === 'Set rooms-read to extracted for globex: done.', null, { timeout: 10_000 });
      for (let i = 0; i < 8; i++) expect((await get(`${proxy.url}/api/rooms/${i}`, 'globex.localhost')).json.from).toBe('service');

      await page.waitForSelector('#chart-requests line.mark[data-kind="flip"]', { state: 'attached', timeout: 15_000 });
      await page.waitForFunction(() => Number((globalThis as unknown as Doc).document.querySelector('#chart-requests path[data-series="extracted"]')?.getAttribute('data-max')) > 0, null, { timeout: 15_000 });
      expect(await page.locator('#chart-requests line.mark[data-kind="flip"] title').first().textContent()).toMatch(/rooms-read \[globex\]: \(inherited\) -> extracted by ops:dashboard \(api\): globex reads move/);
      // Every chart carries the mark; the latency chart has the service's path now.
      for (const id of ['chart-rates', 'chart-latency', 'chart-freshness']) expect(await page.locator(`#${id} line.mark[data-kind="flip"]`).count()).toBeGreaterThan(0);
      expect(Number(await attr('#chart-latency path[data-series="serviceP50"]', 'data-max'))).toBeGreaterThan(0);
      await page.waitForFunction(() => (globalThis as unknown as Doc).document.querySelector('#progress-tenants tr[data-tenant="globex"] td.share')?.textContent !== '0.0 %', null, { timeout: 15_000 });
      expect(Number(await attr('#progress-share', 'data-share'))).toBeGreaterThan(0);
      expect(await page.textContent('#progress-tenants tr[data-tenant="globex"]')).toContain('rooms-read');
      expect(await page.locator('#progress-trail tr[data-kind="flip"]').count()).toBeGreaterThan(0);
      expect(Number(await attr('#chart-progress path[data-series="t:globex"]', 'data-max'))).toBeGreaterThan(0);

      // Another window redraws from the coarser buckets.
      await page.selectOption('#chart-window', '6h');
      await page.waitForFunction(() => /buckets of 60 s/.test((globalThis as unknown as Doc).document.querySelector('#chart-note')?.textContent ?? ''), null, { timeout: 10_000 });
      const artifacts = path.join(REPO, 'test-artifacts');
      fs.mkdirSync(artifacts, { recursive: true });
      await page.locator('#charts-section').screenshot({ path: path.join(artifacts, 'charts.png') });
      await page.locator('#progress-section').screenshot({ path: path.join(artifacts, 'progress.png') });
    } finally {
      await page.close();
      await proxy.stop();
    }
    expect(blocked.filter((m) => /Content Security Policy|Refused to/.test(m))).toEqual([]);
  });
});
