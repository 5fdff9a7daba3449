import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { findChromium } from '../../e2e/support/browser';
import { startCatalogServer, type CatalogServer } from '../../contracts/src';
import { testStack } from '../../e2e/support/env';
import { READ_TOKEN, admin, baseConfig, controlStore, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

const REPO = path.resolve(__dirname, '..', '..');
type Doc = { document: { querySelectorAll(q: string): ArrayLike<{ textContent: string | null }>; querySelector(q: string): { textContent: string | null } | null } };

/**
 * The dashboard's Streams page, in headless Chromium: the repository's
 * catalog (`strangler catalog serve` over the test stack's Kafka) shown
 * through the admin API, a row per stream with its owner, version, producer
 * and consumers; without dashboard.catalogUrl the API says what to set.
 */
describe('dashboard: the streams of the catalog', () => {
  let monolith: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let catalog: CatalogServer;
  let proxy: TestProxy;
  let bare: TestProxy;
  let browser: Browser;

  beforeAll(async () => {
    [monolith, store] = await Promise.all([startUpstream('monolith'), controlStore()]);
    catalog = await startCatalogServer({ dir: path.join(REPO, 'contracts'), brokers: [testStack().kafka], port: 0 });
    proxy = await startProxy(baseConfig(store.url, { acme: monolith.url }, { dashboard: { links: [], catalogUrl: catalog.url } }));
    bare = await startProxy(baseConfig(store.url, { acme: monolith.url }));
    browser = await chromium.launch({ executablePath: findChromium(), args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    await bare?.stop();
    await catalog?.close();
    await monolith?.close();
    await store?.drop();
  });

  it('answers the catalog through the admin API, and says what to set when there is none', async () => {
    const r = await admin(proxy, 'GET', '/catalog');
    expect(r.status).toBe(200);
    expect(r.json.kafka).toBeNull();
    expect(r.json.data.map((e: { stream: string }) => e.stream)).toEqual(['public.messages', 'public.room_members', 'public.rooms', 'public.users', 'message-posted@1', 'room-created@1']);
    const none = await admin(bare, 'GET', '/catalog');
    expect({ status: none.status, code: none.json.error.code }).toEqual({ status: 404, code: 'STR_ERR_ADMIN_CATALOG_UNSET' });
  });

  it('shows every stream with its owner, version, producer and consumers', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${proxy.admin}/dashboard`);
      await page.fill('#token', READ_TOKEN);
      await page.click('#login button[type=submit]');
      await page.waitForFunction(() => (globalThis as unknown as Doc).document.querySelectorAll('#catalog tr[data-stream]').length === 6, null, { timeout: 20_000 });
      const cells = async (stream: string) => page.locator(`#catalog tr[data-stream="${stream}"] td`).allTextContents();
      expect(await cells('message-posted@1')).toEqual(['message-posted@1', 'domain event', 'messaging', 'v1', 'extracted/messaging', expect.any(String), expect.any(String), expect.stringMatching(/^notifications: (caught up|lag unknown|\d+ behind) \(fresh within 5000 ms\) $/)]);
      expect((await cells('public.rooms')).slice(0, 5)).toEqual(['public.rooms', 'table changes', 'messaging', 'v1', 'monolith']);
      expect((await cells('public.users'))[2]).toBe('-');
      expect((await cells('public.users'))[7]).toMatch(/^messaging-mirror: /);
      expect(await page.textContent('#catalog-note')).toMatch(/^as of \d{4}-/);
    } finally {
      await page.close();
    }
  });
});
