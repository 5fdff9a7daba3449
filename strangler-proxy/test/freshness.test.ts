import type { ProxyConfigInput } from '../src/config/schema';
import { admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

/**
 * Freshness: a service that reports how far behind its change streams it is
 * per tenant (GET /freshness, cdc's FreshnessReport), polled by the proxy.
 * Reads of a tenant it is behind for go to the monolith, writes still to
 * the service, shadow copies are skipped (an old answer is not a mismatch),
 * and a service that stops reporting is trusted again after three polls.
 */
describe('freshness: reads go to the monolith while the service is behind', () => {
  let monolith: Upstream;
  let service: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let proxy: TestProxy;
  /** What the service's /freshness answers: per tenant behindMs (or 'loading': its initial snapshot is being applied), or an HTTP status. */
  let report: Record<string, number | 'loading'> | number = {};

  beforeAll(async () => {
    monolith = await startUpstream('monolith');
    service = await startUpstream('service', (req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/freshness') {
        if (typeof report === 'number') return void res.writeHead(report).end('{"error":"down"}');
        const tenants = Object.entries(report).map(([tenant, b]) => (b === 'loading' ? { tenant, behindMs: 0, pending: 0, loading: true } : { tenant, behindMs: b, pending: b > 0 ? 7 : 0, loading: false }));
        return void res.end(JSON.stringify({ at: new Date().toISOString(), tenants }));
      }
      res.end(JSON.stringify({ from: 'service', method: req.method, url: req.url }));
    });
    store = await controlStore();
    const config: ProxyConfigInput = baseConfig(store.url, { acme: monolith.url, globex: monolith.url }, {
      services: { messaging: { url: service.url, freshness: { maxBehindMs: 2000, pollMs: 100 } } },
      routes: [
        { id: 'rooms', match: { path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith', tenants: { acme: { mode: 'extracted' }, globex: { mode: 'shadow' } } },
      ],
    });
    proxy = await startProxy(config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([monolith?.close(), service?.close()]);
    await store?.drop();
  });

  const from = async (method: string, tenant = 'acme') => (await get(`${proxy.url}/api/rooms/1`, `${tenant}.localhost`, { method, ...(method === 'GET' ? {} : { body: '{}', headers: { 'content-type': 'application/json' } }) })).json?.from;
  const metrics = async () => (await admin(proxy, 'GET', '/metrics')).text;
  const polled = () => service.requests.filter((r) => r.url === '/freshness').length;
  /** Shadow copies of the route by outcome, as counted when each request is answered (copies still on their way to the service do not blur it). */
  const shadowed = async (outcome: string) => Number(new RegExp(`strangler_proxy_shadow_total\\{route="rooms",outcome="${outcome}"\\} (\\d+)`).exec(await metrics())?.[1] ?? 0);

  it('serves reads from the service while it keeps up, from the monolith while it is behind for the tenant, and writes from the service throughout', async () => {
    report = { acme: 0, globex: 0 };
    await eventually(async () => polled() >= 2);
    expect(await from('GET')).toBe('service');

    report = { acme: 60_000, globex: 0 };
    await eventually(async () => (await from('GET')) === 'monolith', 5_000);
    await get(`${proxy.url}/api/rooms/1`, 'acme.localhost', { method: 'HEAD' }); // a read too
    expect(monolith.requests.at(-1)?.method).toBe('HEAD');
    expect(await from('POST')).toBe('service');
    expect(await from('PUT')).toBe('service');
    const text = await metrics();
    expect(text).toMatch(/strangler_proxy_fallbacks_total\{route="rooms",service="messaging",reason="behind"\} [2-9]/);
    expect(text).toMatch(/strangler_proxy_service_behind_seconds\{service="messaging",tenant="acme"\} 60\n/);
    expect(text).toMatch(/strangler_proxy_service_freshness_known\{service="messaging"\} 1\n/);
    const services = (await admin(proxy, 'GET', '/services')).json.data;
    expect(services).toEqual([
      {
        service: 'messaging',
        url: service.url,
        breaker: 'closed',
        freshness: { maxBehindMs: 2000, reporting: true, polledAt: expect.any(String), tenants: { acme: { behindMs: 60_000, pending: 7, loading: false, appliedThrough: null, heldBack: true }, globex: { behindMs: 0, pending: 0, loading: false, appliedThrough: null, heldBack: false } } },
      },
    ]);

    // A little behind, under maxBehindMs: the service answers.
    report = { acme: 500, globex: 0 };
    await eventually(async () => (await from('GET')) === 'service', 5_000);
  });

  it('skips shadow copies while the service is behind for the tenant, counted', async () => {
    report = { acme: 0, globex: 30_000 };
    await eventually(async () => /strangler_proxy_service_behind_seconds\{service="messaging",tenant="globex"\} 30\n/.test(await metrics()), 5_000);
    const sent = await shadowed('sent');
    for (let i = 0; i < 5; i++) expect(await from('GET', 'globex')).toBe('monolith');
    expect(await shadowed('sent')).toBe(sent);
    expect(await shadowed('skipped_behind')).toBe(5);

    report = { acme: 0, globex: 0 };
    await eventually(async () => {
      await from('GET', 'globex');
      return (await shadowed('sent')) > sent;
    }, 5_000);
  });

  it('holds back the reads of a tenant the report leaves out or says is loading its snapshot, and skips its shadow copies', async () => {
    // globex is not in the report: a tenant the service has nothing of yet (onboarded since it started).
    report = { acme: 0 };
    // Polled: (a shadowed read is answered by the monolith either way).
    await eventually(async () => JSON.stringify(Object.keys((await admin(proxy, 'GET', '/services')).json.data[0].freshness.tenants)) === '["acme"]', 5_000);
    expect(await from('GET')).toBe('service');
    const [sent, skipped] = [await shadowed('sent'), await shadowed('skipped_behind')];
    for (let i = 0; i < 3; i++) expect(await from('GET', 'globex')).toBe('monolith');
    expect(await shadowed('sent')).toBe(sent);
    expect(await shadowed('skipped_behind')).toBe(skipped + 3);
    // acme's initial snapshot is being applied: its events are recent, its copy is not whole.
    report = { acme: 'loading', globex: 0 };
    await eventually(async () => (await from('GET')) === 'monolith', 5_000);
    expect(await from('POST')).toBe('service');
    const services = (await admin(proxy, 'GET', '/services')).json.data;
    expect(services[0].freshness.tenants).toEqual({ acme: { behindMs: 0, pending: 0, loading: true, appliedThrough: null, heldBack: true }, globex: { behindMs: 0, pending: 0, loading: false, appliedThrough: null, heldBack: false } });
    expect(await metrics()).toMatch(/strangler_proxy_service_loading\{service="messaging",tenant="acme"\} 1\n/);
    report = { acme: 0, globex: 0 };
    await eventually(async () => (await from('GET')) === 'service', 5_000);
  });

  it('trusts a service that stops reporting again after three polls, and says so in its metrics', async () => {
    report = { acme: 60_000 };
    await eventually(async () => (await from('GET')) === 'monolith', 5_000);
    report = 503;
    await eventually(async () => (await from('GET')) === 'service', 5_000);
    expect(await metrics()).toMatch(/strangler_proxy_service_freshness_known\{service="messaging"\} 0\n/);
    report = { acme: 60_000 };
    await eventually(async () => (await from('GET')) === 'monolith', 5_000);
  });

  it('stops polling a service whose freshness a reload removed', async () => {
    const config: ProxyConfigInput = baseConfig(store.url, { acme: monolith.url, globex: monolith.url }, {
      services: { messaging: { url: service.url } },
      routes: [{ id: 'rooms', match: { path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith', tenants: { acme: { mode: 'extracted' }, globex: { mode: 'shadow' } } }],
    });
    proxy.write(config);
    await eventually(async () => (await from('GET')) === 'service', 5_000);
    const n = polled();
    await new Promise((r) => setTimeout(r, 500));
    expect(polled()).toBeLessThanOrEqual(n + 1);
  });
});

/**
 * A service written outside the toolkit that reads a copy the toolkit keeps
 * (a table mirror): it has no freshness report of its own, and names the
 * mirror's. While the mirror is behind the monolith's writes, copies to the
 * service are stale candidates: skipped and counted, neither match nor
 * mismatch.
 */
describe("freshness: a service that names its mirror's report as its own", () => {
  let monolith: Upstream;
  let service: Upstream;
  let mirror: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let proxy: TestProxy;
  let behindMs = 60_000;

  beforeAll(async () => {
    monolith = await startUpstream('monolith', (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"FX desk"}'));
    // An old copy: it would mismatch if compared.
    service = await startUpstream('foreign-service', (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"old"}'));
    mirror = await startUpstream('mirror', (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ at: new Date().toISOString(), tenants: [{ tenant: 'acme', behindMs, pending: 3, loading: false }] })));
    store = await controlStore();
    proxy = await startProxy(
      baseConfig(store.url, { acme: monolith.url }, {
        services: { foreign: { url: service.url, freshness: { url: `${mirror.url}/mirror/freshness`, maxBehindMs: 2000, pollMs: 100 } } },
        routes: [{ id: 'rooms', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'foreign', mode: 'shadow' }],
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([monolith?.close(), service?.close(), mirror?.close()]);
    await store?.drop();
  });

  const shadowed = async (outcome: string) => Number(new RegExp(`strangler_proxy_shadow_total\\{route="rooms",outcome="${outcome}"\\} (\\d+)`).exec((await admin(proxy, 'GET', '/metrics')).text)?.[1] ?? 0);

  it('polls the named report, skips copies while it is behind, and compares again once it has caught up', async () => {
    await eventually(async () => mirror.requests.some((r) => r.url === '/mirror/freshness'), 5_000);
    expect(service.requests.some((r) => r.url === '/freshness')).toBe(false);
    await eventually(async () => ((await admin(proxy, 'GET', '/services')).json.data[0].freshness.tenants.acme?.heldBack ? true : undefined), 5_000);
    for (let i = 0; i < 5; i++) expect((await get(`${proxy.url}/api/rooms/1`, 'acme.localhost')).json).toEqual({ name: 'FX desk' });
    expect(await shadowed('skipped_behind')).toBe(5);
    expect(service.requests.filter((r) => r.url === '/api/rooms/1')).toHaveLength(0);
    const before = (await admin(proxy, 'GET', '/parity')).json.data;
    expect(before.find((d: { route: string }) => d.route === 'rooms')?.samples ?? 0).toBe(0);

    behindMs = 0;
    await eventually(async () => ((await admin(proxy, 'GET', '/services')).json.data[0].freshness.tenants.acme?.heldBack === false ? true : undefined), 5_000);
    await get(`${proxy.url}/api/rooms/1`, 'acme.localhost');
    await eventually(async () => ((await admin(proxy, 'GET', '/parity')).json.data.find((d: { route: string }) => d.route === 'rooms')?.mismatches === 1 ? true : undefined), 5_000);
  });
});
