import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { findChromium } from '../../e2e/support/browser';
import { READ_TOKEN, WRITE_TOKEN, admin, baseConfig, get, controlStore, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

const REPO = path.resolve(__dirname, '..', '..');

/** Waits until the element's text is `text` (the page refreshes every 2 s). */
const waitText = (page: Page, selector: string, text: string) =>
  page.waitForFunction(([s, t]) => (globalThis as unknown as { document: { querySelector(q: string): { textContent: string | null } | null } }).document.querySelector(s)?.textContent === t, [selector, text] as const, { timeout: 10_000 });

/**
 * The dashboard on the admin port, in headless Chromium against a real proxy
 * and control store: nothing without a token, the routes and modes with one,
 * a change made elsewhere shown within seconds, a read-only token's rollback
 * refused on the page, a write token's rollback and freeze done and in the
 * audit log.
 */
describe('admin dashboard', () => {
  let monolith: Upstream;
  let service: Upstream;
  let reporting: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let proxy: TestProxy;
  let browser: Browser;

  beforeAll(async () => {
    [monolith, service, reporting, store] = await Promise.all([
      startUpstream('monolith'),
      startUpstream('service'),
      // A service that reports its freshness: acme applied through a known time, globex still loading.
      startUpstream('reporting', (req, res) => {
        res.setHeader('content-type', 'application/json');
        if (req.url !== '/freshness') return void res.end('{}');
        res.end(JSON.stringify({ at: new Date().toISOString(), tenants: [
          { tenant: 'acme', behindMs: 400, pending: 0, loading: false, appliedThrough: '2026-12-02T21:31:16.732Z' },
          { tenant: 'globex', behindMs: 0, pending: 12, loading: true, appliedThrough: null },
        ] }));
      }),
      controlStore(),
    ]);
    proxy = await startProxy(
      baseConfig(store.url, { acme: monolith.url, globex: monolith.url }, {
        services: { messaging: { url: service.url }, search: { url: reporting.url, freshness: { maxBehindMs: 5000, pollMs: 100 } } },
        routes: [
          { id: 'rooms-read', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith', tenants: { acme: { mode: 'shadow' } } },
          { id: 'messages-read', match: { method: 'GET', path: '/api/rooms/:id/messages' }, service: 'messaging', mode: 'monolith' },
        ],
      }),
    );
    browser = await chromium.launch({ executablePath: findChromium(), args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    await Promise.all([monolith?.close(), service?.close(), reporting?.close()]);
    await store?.drop();
  });

  it('serves a page without data, under a strict content security policy', async () => {
    const res = await fetch(`${proxy.admin}/`, { redirect: 'manual' });
    expect({ status: res.status, location: res.headers.get('location') }).toEqual({ status: 302, location: '/dashboard' });
    const page = await fetch(`${proxy.admin}/dashboard`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]+'; /);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(html).not.toContain('rooms-read');
    expect(html).not.toContain(monolith.url);
  });

  it('shows routes and modes to a token, follows changes, and refuses what a read-only token may not do', async () => {
    const page = await browser.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => m.type() === 'error' && blocked.push(m.text()));
    try {
      await page.goto(`${proxy.admin}/dashboard`);
      expect(await page.locator('#main').isHidden()).toBe(true);

      await page.fill('#token', 'not-a-token');
      await page.click('#login button[type=submit]');
      await page.waitForSelector('#status.error');
      expect(await page.textContent('#status')).toBe('Not signed in: this token is not valid [STR_ERR_ADMIN_UNAUTHENTICATED]');

      await page.fill('#token', READ_TOKEN);
      await page.click('#login button[type=submit]');
      const cell = (route: string, tenant: string) => page.locator(`#routes tr[data-route="${route}"] td[data-tenant="${tenant}"] .mode`);
      await page.waitForSelector('#routes tr[data-route="rooms-read"]');
      expect(await cell('rooms-read', 'acme').textContent()).toBe('shadow');
      expect(await cell('rooms-read', 'globex').textContent()).toBe('monolith');
      expect(await page.textContent('#gates')).toBe('running');
      expect(await page.locator('#services tr[data-service="messaging"] td').allTextContents()).toEqual(['messaging', service.url, 'closed', 'not declared']);
      // No domain in this config: the ownership table says so.
      expect(await page.locator('#ownership td').allTextContents()).toEqual(['no domain is declared (domains in the config)']);
      // The service's report as the proxy last polled it (every 100 ms here; the page refreshes every 2 s).
      await waitText(page, '#services tr[data-service="search"] td:nth-child(4)', 'acme 0.4 s, applied through 2026-12-02 21:31:16.732 UTC globex loading its snapshot (held back) limit 5.0 s');
      expect(await page.locator('#services tr[data-service="search"] td').nth(1).textContent()).toBe(reporting.url);

      // A flip made elsewhere (the API, as the CLI does) shows within a refresh.
      expect((await admin(proxy, 'PUT', '/routes/messages-read/mode', { mode: 'canary', percent: 25, tenant: 'globex', reason: 'first canary' })).status).toBe(200);
      await waitText(page, '#routes tr[data-route="messages-read"] td[data-tenant="globex"] .mode', 'canary 25%');

      // A read-only token sees the refusal on the page; nothing changes.
      await page.fill('#reason', 'trying');
      await page.locator('#routes tr[data-route="messages-read"] td[data-tenant="globex"] button', { hasText: 'roll back' }).click();
      await page.waitForSelector('#outcome.error');
      expect(await page.textContent('#outcome')).toBe('Roll back messages-read for globex: token viewer is read-only [STR_ERR_ADMIN_FORBIDDEN]');
      expect((await admin(proxy, 'GET', '/routes/messages-read')).json.tenants.globex).toEqual({ mode: 'canary', percent: 25 });

      // The audit log of a route, on a click.
      await page.click('#routes tr[data-route="messages-read"] td:first-child');
      await page.waitForSelector('#history tr:nth-child(2)');
      expect(await page.locator('#history tr:nth-child(2) td').allTextContents()).toEqual([expect.any(String), 'globex', '(default) \u2192 canary 25%', 'ops', 'api', 'first canary']);
    } finally {
      await page.close();
    }
    // Refused requests are logged by Chromium as failed loads; nothing the policy blocked (an inline handler, a foreign script).
    expect(blocked.filter((m) => /Content Security Policy|Refused to/.test(m))).toEqual([]);
  });

  it('sets a mode, rolls a route back and freezes it with a write token and a reason, all in the audit log', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${proxy.admin}/dashboard`);
      await page.fill('#token', WRITE_TOKEN);
      await page.click('#login button[type=submit]');
      const td = page.locator('#routes tr[data-route="messages-read"] td[data-tenant="globex"]');
      await page.waitForSelector('#routes tr[data-route="messages-read"]');
      await td.locator('button', { hasText: 'roll back' }).click();
      expect(await page.textContent('#outcome')).toBe('Say why first: the reason goes to the audit log.');

      await page.fill('#reason', 'mismatches seen by the desk');
      await td.locator('button', { hasText: 'roll back' }).click();
      await waitText(page, '#outcome', 'Roll back messages-read for globex: done.');
      await waitText(page, '#routes tr[data-route="messages-read"] td[data-tenant="globex"] .mode', 'monolith');
      // A flip from the page: a canary needs its percent, and the API's refusal is shown as it is.
      await page.selectOption('#flip-route', 'messages-read');
      await page.selectOption('#flip-tenant', 'acme');
      await page.selectOption('#flip-mode', 'canary');
      await page.click('#flip-set');
      await waitText(page, '#outcome', 'Set messages-read to canary for acme: percent: is required when mode is canary [STR_ERR_ADMIN_BAD_REQUEST]');
      await page.fill('#flip-percent', '30');
      await page.click('#flip-set');
      await waitText(page, '#routes tr[data-route="messages-read"] td[data-tenant="acme"] .mode', 'canary 30%');
      expect((await admin(proxy, 'GET', '/routes/messages-read/history')).json.data[0]).toMatchObject({ scope: 'acme', source: 'api', actor: 'ops:dashboard', next: { mode: 'canary', percent: 30 } });
      expect(await page.inputValue('#flip-route')).toBe('messages-read'); // the refresh keeps what was chosen

      await td.locator('button', { hasText: 'freeze' }).click();
      await page.waitForSelector('#routes tr[data-route="messages-read"] td[data-tenant="globex"] .frozen');
      await page.click('#pause');
      await waitText(page, '#gates', 'paused');

      const history = (await admin(proxy, 'GET', '/routes/messages-read/history')).json.data;
      expect(history[1]).toMatchObject({ scope: 'globex', source: 'rollback', actor: 'ops:dashboard', reason: 'mismatches seen by the desk', next: null });
      const gates = (await admin(proxy, 'GET', '/gates')).json;
      expect(gates.paused).toBe(true);
      expect(gates.controls.map((c: { scope: string; actor: string }) => [c.scope, c.actor])).toEqual([['*', 'ops:dashboard'], ['messages-read:globex', 'ops:dashboard']]);

      // Shadow traffic fills the parity table (the two echo upstreams answer differently: mismatches).
      for (let i = 0; i < 5; i++) expect((await get(`${proxy.url}/api/rooms/${i}`, 'acme.localhost')).status).toBe(200);
      await page.waitForFunction(() => Number((globalThis as unknown as { document: { querySelector(q: string): { textContent: string | null } | null } }).document.querySelector('#parity tr[data-route="rooms-read"][data-tenant="acme"] td:nth-child(3)')?.textContent) >= 5, null, { timeout: 15_000 });
      expect(await page.locator('#parity tr[data-route="rooms-read"][data-tenant="acme"] td:nth-child(4)').textContent()).toMatch(/^[1-5] \(\d+\.\d %\)$/);
      // Matched, filtered and discarded apart; the learned-noise table says what is left out (nothing here: the monolith repeats itself).
      expect(await page.locator('#parity tr:first-child th').allTextContents()).toEqual(expect.arrayContaining(['matched', 'filtered by learned noise', 'noise pairs discarded (data changed)']));
      expect(await page.textContent('#noise')).toMatch(/nothing learned/);
      // A parity row's sampled mismatches, field by field (the two echo upstreams name themselves).
      await page.click('#parity tr[data-route="rooms-read"][data-tenant="acme"]');
      await page.waitForSelector('#mismatches .mismatch');
      expect(await page.textContent('#mismatch-of')).toBe('of rooms-read for acme');
      expect(await page.locator('#mismatches .mismatch').first().locator('p').textContent()).toMatch(/^GET \/api\/rooms\/\d at \S+: monolith 200 in \d+\.\d ms, service 200 in \d+\.\d ms$/);
      expect(await page.locator('#mismatches .mismatch').first().locator('tr:has(td)').first().locator('td').allTextContents()).toEqual(['$.from', expect.any(String), '"monolith"', '"service"']);

      const artifacts = path.join(REPO, 'test-artifacts');
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
      expect(fs.statSync(path.join(artifacts, 'dashboard.png')).size).toBeGreaterThan(10_000);
    } finally {
      await page.close();
    }
  });
});
