import type { ProxyConfigInput } from '../src/config/schema';
import { admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

/**
 * Read-your-writes: a write the monolith answers marks the client (a cookie
 * with the time of the answer); the client's reads then go to the monolith
 * until the service's freshness report says every change committed before
 * that time is applied (`appliedThrough`), or until the window passes.
 * Others' reads, and the client's once the service has caught up, go to the
 * service as before.
 */
describe('read-your-writes: a client reads what it just wrote through the monolith', () => {
  let monolith: Upstream;
  let service: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let proxy: TestProxy;
  /** What the service's /freshness says each tenant has applied every change before (ms since the epoch), or null. */
  let through: Record<string, number | null> = {};

  const config = (readYourWrites: ProxyConfigInput['readYourWrites']): ProxyConfigInput =>
    baseConfig(store.url, { acme: monolith.url, globex: monolith.url }, {
      // plain: a service that declares no freshness (read-your-writes cannot cover it).
      services: { messaging: { url: service.url, freshness: { maxBehindMs: 2000, pollMs: 100 } }, plain: { url: service.url } },
      routes: [
        { id: 'rooms', match: { path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith', tenants: { acme: { mode: 'extracted' }, globex: { mode: 'shadow' } } },
        { id: 'notes', match: { path: '/api/notes/:id' }, service: 'plain', mode: 'shadow' },
      ],
      ...(readYourWrites === undefined ? {} : { readYourWrites }),
    });

  beforeAll(async () => {
    monolith = await startUpstream('monolith', (req, res) => {
      res.setHeader('content-type', 'application/json');
      // The monolith's own cookie is kept beside the proxy's.
      if (req.method === 'POST') res.setHeader('set-cookie', 'session=abc; Path=/');
      res.end(JSON.stringify({ from: 'monolith', method: req.method, url: req.url }));
    });
    service = await startUpstream('service', (req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/freshness') {
        const tenants = Object.entries(through).map(([tenant, at]) => ({ tenant, behindMs: 0, pending: 0, loading: false, appliedThrough: at === null ? null : new Date(at).toISOString() }));
        return void res.end(JSON.stringify({ at: new Date().toISOString(), tenants }));
      }
      res.end(JSON.stringify({ from: 'service', method: req.method, url: req.url }));
    });
    store = await controlStore();
    through = { acme: Date.now(), globex: Date.now() };
    proxy = await startProxy(config({ windowMs: 3000, clockSkewMs: 0 }));
    await eventually(async () => service.requests.filter((r) => r.url === '/freshness').length >= 2);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([monolith?.close(), service?.close()]);
    await store?.drop();
  });

  const write = async (tenant = 'acme') => get(`${proxy.url}/api/rooms`, `${tenant}.localhost`, { method: 'POST', body: '{"name":"FX desk"}', headers: { 'content-type': 'application/json' } });
  const read = async (cookie: string | null, tenant = 'acme') => (await get(`${proxy.url}/api/rooms/1`, `${tenant}.localhost`, cookie === null ? {} : { headers: { cookie } })).json?.from;
  const metrics = async () => (await admin(proxy, 'GET', '/metrics')).text;
  /** Waits until the proxy has polled what `through` says now. */
  const reported = async () => {
    const iso = (at: number | null | undefined) => (at === null || at === undefined ? null : new Date(at).toISOString());
    await eventually(async () => {
      const tenants = (await admin(proxy, 'GET', '/services')).json.data[0].freshness.tenants;
      return Object.entries(through).every(([t, at]) => tenants[t]?.appliedThrough === iso(at));
    }, 5_000);
  };
  /** The proxy's cookie among the answer's Set-Cookie lines, as a Cookie header would send it back. */
  const markOf = (setCookie: string | string[] | undefined): string => {
    const line = [setCookie ?? []].flat().find((c) => c.startsWith('strangler-written='));
    expect(line).toMatch(/^strangler-written=\d+; Path=\/; Max-Age=3; HttpOnly; SameSite=Lax$/);
    return line!.split(';')[0]!;
  };

  it('marks a write the monolith answered, beside its own cookie, and not a read', async () => {
    const before = Date.now();
    const res = await write();
    expect(res.json.from).toBe('monolith');
    expect([res.headers['set-cookie']].flat()).toContain('session=abc; Path=/');
    const mark = markOf(res.headers['set-cookie']);
    expect(Number(mark.split('=')[1])).toBeGreaterThanOrEqual(before);
    expect(Number(mark.split('=')[1])).toBeLessThanOrEqual(Date.now());
    const reading = await get(`${proxy.url}/api/rooms/2`, 'globex.localhost');
    expect(reading.headers['set-cookie']).toBeUndefined();
  });

  it("sends the writer's reads to the monolith until the service has applied what came before its write; others read from the service throughout", async () => {
    through = { acme: Date.now() - 60_000, globex: Date.now() };
    await reported();
    expect((await admin(proxy, 'GET', '/services')).json.data[0].freshness.tenants.acme).toEqual({ behindMs: 0, pending: 0, loading: false, appliedThrough: new Date(through.acme!).toISOString(), heldBack: false });
    const mark = markOf((await write()).headers['set-cookie']);
    for (let i = 0; i < 4; i++) expect(await read(`other=1; ${mark}`)).toBe('monolith');
    expect(await read(null)).toBe('service');
    expect(await read('other=1')).toBe('service');
    expect(await metrics()).toMatch(/strangler_proxy_fallbacks_total\{route="rooms",service="messaging",reason="unapplied_write"\} ([4-9]|\d\d+)\n/);

    // Applied only up to the write's own time: not yet (changes committed at that moment may be missing).
    const at = Number(mark.split('=')[1]);
    through = { acme: at, globex: Date.now() };
    await reported();
    expect(await read(mark)).toBe('monolith');
    // Past it: the service answers the writer again.
    through = { acme: at + 1, globex: Date.now() };
    await eventually(async () => (await read(mark)) === 'service', 5_000);
    // A report that leaves the bound out (null) says nothing: the writer reads from the monolith.
    through = { acme: null, globex: Date.now() };
    await eventually(async () => (await read(mark)) === 'monolith', 5_000);
    expect(await read(null)).toBe('service');
  });

  it("keeps its own cookie from the upstreams, and passes the client's other cookies as they are", async () => {
    through = { acme: Date.now() - 60_000, globex: Date.now() };
    await reported();
    const mark = markOf((await write()).headers['set-cookie']);
    const cookiesOf = (u: Upstream, from: number) => u.requests.slice(from).filter((r) => r.url !== '/freshness').map((r) => r.headers.cookie ?? null);
    const [m, s] = [monolith.requests.length, service.requests.length];
    expect(await read(`a=1; ${mark}; b=2`)).toBe('monolith');
    expect(await read(mark)).toBe('monolith');
    await get(`${proxy.url}/api/rooms`, 'acme.localhost', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', cookie: `${mark};session=abc` } });
    expect(cookiesOf(monolith, m)).toEqual(['a=1; b=2', null, 'session=abc']);
    expect(await read('other=1; strangler-written-not=2')).toBe('service');
    // (Requests the service got with no Cookie at all are left out: once, under the full suite's load, one from an earlier
    // step, whose only cookie was the proxy's mark, landed in this slice; what matters is that this one arrives as sent.)
    expect(cookiesOf(service, s).filter((c) => c !== null)).toEqual(['other=1; strangler-written-not=2']);
  });

  it('gives up after the window, takes a mark from the future for now, and ignores one that is not a time', async () => {
    through = { acme: Date.now() - 60_000, globex: Date.now() };
    await reported();
    expect(await read(`strangler-written=${Date.now() - 3_500}`)).toBe('service');
    expect(await read(`strangler-written=${Date.now() - 1_000}`)).toBe('monolith');
    expect(await read(`strangler-written=${Date.now() + 86_400_000}`)).toBe('monolith');
    expect(await read('strangler-written=soon')).toBe('service');
    expect(await read(`xstrangler-written=${Date.now()}`)).toBe('service');
  });

  it("skips the shadow copies of the writer's reads until its write is applied, counted", async () => {
    through = { acme: Date.now(), globex: Date.now() - 60_000 };
    const mark = markOf((await write('globex')).headers['set-cookie']);
    const shadowed = async (outcome: string) => Number(new RegExp(`strangler_proxy_shadow_total\\{route="rooms",outcome="${outcome}"\\} (\\d+)`).exec(await metrics())?.[1] ?? 0);
    await reported();
    const sent = await shadowed('sent');
    for (let i = 0; i < 4; i++) expect(await read(mark, 'globex')).toBe('monolith');
    // Counted as each read is answered: none handed to the shadow thread, each one skipped.
    expect(await shadowed('sent')).toBe(sent);
    expect(await shadowed('skipped_unapplied_write')).toBe(4);
    // Without the mark, copied as usual.
    await read(null, 'globex');
    expect(await shadowed('sent')).toBe(sent + 1);
  });

  it("leaves a service without freshness uncovered: the writer's reads are shadowed as anyone's", async () => {
    const mark = markOf((await write()).headers['set-cookie']);
    const shadowed = async (outcome: string) => Number(new RegExp(`strangler_proxy_shadow_total\\{route="notes",outcome="${outcome}"\\} (\\d+)`).exec(await metrics())?.[1] ?? 0);
    const sent = await shadowed('sent');
    for (let i = 0; i < 3; i++) expect((await get(`${proxy.url}/api/notes/1`, 'acme.localhost', { headers: { cookie: mark } })).json?.from).toBe('monolith');
    expect(await shadowed('sent')).toBe(sent + 3);
    expect(await shadowed('skipped_unapplied_write')).toBe(0);
  });

  it('leaves answers untouched when read-your-writes is off', async () => {
    proxy.write(config(undefined));
    await eventually(async () => (await write()).headers['set-cookie'] === 'session=abc; Path=/', 5_000);
    through = { acme: Date.now() - 60_000, globex: Date.now() };
    await reported();
    expect(await read(`strangler-written=${Date.now()}`)).toBe('service');
  });
});
