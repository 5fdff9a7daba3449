import http from 'node:http';
import pino from 'pino';
import { admin, baseConfig, controlStore, echo, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

/** Every mode against real upstreams on port 0, with the control store on the test stack's PostgreSQL. */
describe('proxy modes', () => {
  let acme: Upstream;
  let globex: Upstream;
  let service: Upstream;
  let store: { url: string; drop: () => Promise<void> };
  let proxy: TestProxy;

  let deadUrl: string;

  beforeAll(async () => {
    const dead = await startUpstream('dead');
    deadUrl = dead.url;
    await dead.close(); // a port where nothing listens: connection refused
    [acme, globex, service, store] = await Promise.all([startUpstream('acme'), startUpstream('globex'), startUpstream('service'), controlStore()]);
    proxy = await startProxy(
      baseConfig(store.url, { acme: acme.url, globex: globex.url }, {
        services: {
          dead: { url: deadUrl, timeouts: { connectMs: 300, headersMs: 300, bodyMs: 2000 } },
          flaky: { url: deadUrl, timeouts: { connectMs: 300, headersMs: 300, bodyMs: 2000 }, breaker: { failures: 3, windowMs: 10_000, openMs: 300 } },
          messaging: { url: service.url, timeouts: { connectMs: 300, headersMs: 300, bodyMs: 2000 }, breaker: { failures: 3, windowMs: 10_000, openMs: 400 }, dryRunHeader: 'x-dry-run' } },
        shadow: { queue: 4, concurrency: 2, timeoutMs: 2000 },
        routes: [
          { id: 'rooms', match: { method: 'GET', path: '/api/rooms' }, service: 'messaging', mode: 'monolith' },
          { id: 'room', match: { method: ['GET', 'POST'], path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith' },
          { id: 'messages', match: { path: '/api/rooms/:id/messages' }, service: 'messaging', mode: 'monolith', shadow: { mirrorWrites: true } },
          { id: 'dead-post', match: { method: 'POST', path: '/dead' }, service: 'dead', mode: 'extracted' },
          { id: 'flaky', match: { method: 'GET', path: '/flaky' }, service: 'flaky', mode: 'extracted' },
          { id: 'search', match: { method: 'GET', path: '/api/messages/search' }, service: 'messaging', mode: 'canary', percent: 50, canary: { stickyBy: 'header', header: 'x-user' } },
          { id: 'sampled-none', match: { method: 'GET', path: '/sampled/none' }, service: 'messaging', mode: 'shadow', shadow: { sampleRate: 0 } },
          { id: 'sampled-quarter', match: { method: 'GET', path: '/sampled/quarter' }, service: 'messaging', mode: 'shadow', shadow: { sampleRate: 0.25 } },
        ],
      }),
    );
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([acme?.close(), globex?.close(), service?.close()]);
    await store?.drop();
  });
  beforeEach(() => {
    for (const u of [acme, globex, service]) {
      u.requests.length = 0;
      u.handler = echo(u.name);
    }
  });

  const setMode = async (route: string, body: Record<string, unknown>) => {
    const r = await admin(proxy, 'PUT', `/routes/${route}/mode`, { reason: 'test', ...body });
    expect(r.status).toBe(200);
  };

  it('is transparent for unmatched paths: status, headers and body pass untouched, each tenant to its own monolith', async () => {
    acme.handler = (_req, res) => {
      res.writeHead(418, { 'x-custom': 'kept', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
      res.end('teapot');
    };
    const r = await get(`${proxy.url}/anything?q=1`, 'acme.localhost');
    expect(r.status).toBe(418);
    expect(r.text).toBe('teapot');
    expect(r.headers['x-custom']).toBe('kept');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.headers.via).toBe('1.1 strangler');
    expect(acme.requests[0]!.url).toBe('/anything?q=1');
    expect((await get(`${proxy.url}/anything`, 'globex.localhost')).json.from).toBe('globex');
  });

  it('streams a large upload and a large streamed response', async () => {
    const upload = Buffer.alloc(3 * 1024 * 1024, 7);
    const up = await get(`${proxy.url}/upload`, 'acme.localhost', { method: 'POST', body: upload, headers: { 'content-type': 'application/octet-stream' } });
    expect(up.json.bytes).toBe(upload.length);
    acme.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const tick = () => {
        if (n++ === 50) return void res.end('end');
        res.write('x'.repeat(64 * 1024));
        setImmediate(tick);
      };
      tick();
    };
    const down = await get(`${proxy.url}/download`, 'acme.localhost');
    expect(down.text.length).toBe(50 * 64 * 1024 + 3);
  });

  it('takes an upload sent with Expect: 100-continue (as curl sends any body over 1 MB), to the monolith and to a service alike', async () => {
    const upload = Buffer.alloc(1536 * 1024, 3);
    const send = (path: string) =>
      new Promise<{ status: number; continued: boolean; body: string }>((resolve, reject) => {
        const url = new URL(path, proxy.url);
        const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { host: 'acme.localhost', expect: '100-continue', 'content-type': 'application/octet-stream', 'content-length': upload.length } });
        let continued = false;
        req.on('continue', () => {
          continued = true;
          req.end(upload); // the body leaves only once the proxy said 100 Continue
        });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, continued, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
      });
    const toMonolith = await send('/upload');
    expect({ status: toMonolith.status, continued: toMonolith.continued, bytes: JSON.parse(toMonolith.body).bytes }).toEqual({ status: 200, continued: true, bytes: upload.length });
    expect(acme.requests.at(-1)!.headers.expect).toBeUndefined(); // met at the proxy, never forwarded
    await setMode('room', { mode: 'extracted', tenant: 'acme' });
    try {
      const toService = await send('/api/rooms/7');
      expect({ status: toService.status, from: JSON.parse(toService.body).from, bytes: JSON.parse(toService.body).bytes }).toEqual({ status: 200, from: 'service', bytes: upload.length });
      expect(service.requests.at(-1)!.headers.expect).toBeUndefined();
    } finally {
      expect((await admin(proxy, 'POST', '/routes/room/rollback', { tenant: 'acme', reason: 'test' })).status).toBe(200);
    }
  });

  it("answers 502 for a monolith that refuses connections, and logs why (the client only sees the code)", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const down = await startProxy(baseConfig(store.url, { acme: deadUrl }, { log: { level: 'warn', access: false } }), { logger });
    try {
      const r = await get(`${down.url}/api/rooms`, 'acme.localhost');
      expect({ status: r.status, code: r.json.error.code }).toEqual({ status: 502, code: 'STR_ERR_PROXY_UPSTREAM_UNAVAILABLE' });
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'upstream failed', tenant: 'acme', target: 'monolith', status: 502, error: { code: 'ECONNREFUSED', message: expect.stringContaining('ECONNREFUSED') } }));
    } finally {
      await down.stop();
    }
  });

  it('refuses a request whose tenant cannot be resolved, and ignores a spoofed tenant header', async () => {
    const r = await get(`${proxy.url}/api/users`, 'unknown.example', { headers: { 'x-strangler-tenant': 'acme' } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('STR_ERR_PROXY_TENANT_UNRESOLVED');
    expect(acme.requests).toHaveLength(0);
    const spoof = await get(`${proxy.url}/api/users`, 'globex.localhost', { headers: { 'x-strangler-tenant': 'acme' } });
    expect(spoof.json.from).toBe('globex');
    expect(globex.requests[0]!.headers['x-strangler-tenant']).toBeUndefined();
  });

  it('extracted: the service answers, told the tenant; other tenants stay on their monolith', async () => {
    await setMode('rooms', { mode: 'extracted', tenant: 'acme' });
    const r = await get(`${proxy.url}/api/rooms`, 'acme.localhost', { headers: { 'x-strangler-tenant': 'globex' } });
    expect(r.json).toMatchObject({ from: 'service', tenant: 'acme' });
    expect((await get(`${proxy.url}/api/rooms`, 'globex.localhost')).json.from).toBe('globex');
    await setMode('rooms', { mode: 'monolith', tenant: 'acme' });
    expect((await get(`${proxy.url}/api/rooms`, 'acme.localhost')).json.from).toBe('acme');
  });

  it('shadow: the client gets the monolith answer at once; the copy is marked, and both answers are recorded', async () => {
    await setMode('messages', { mode: 'shadow' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    service.handler = (req, res, body) => void gate.then(() => echo('service')(req, res, body));
    const started = Date.now();
    const r = await get(`${proxy.url}/api/rooms/7/messages`, 'acme.localhost');
    expect(r.json.from).toBe('acme');
    expect(Date.now() - started).toBeLessThan(200); // the slow copy did not hold the client
    release();
    await eventually(() => service.requests.length === 1 || undefined);
    expect(service.requests[0]!.headers['x-strangler-shadow']).toBe('1');
    const recent = await eventually(async () => {
      const { json } = await admin(proxy, 'GET', '/shadow/recent');
      return json.data.find((e: any) => e.route === 'messages');
    });
    expect(recent.primary.status).toBe(200);
    expect(JSON.parse(recent.primary.body).from).toBe('acme');
    expect(JSON.parse(recent.shadow.body).from).toBe('service');
    await setMode('messages', { mode: 'monolith' });
  });

  it('shadow: writes are mirrored only with the dry-run header the service declared; otherwise skipped and counted', async () => {
    await setMode('messages', { mode: 'shadow' });
    const post = await get(`${proxy.url}/api/rooms/7/messages`, 'acme.localhost', { method: 'POST', body: '{"body":"hi"}', headers: { 'content-type': 'application/json' } });
    expect(post.json.from).toBe('acme');
    await eventually(() => service.requests.length === 1 || undefined);
    expect(service.requests[0]!.headers['x-dry-run']).toBe('1');
    expect(service.requests[0]!.body.toString()).toBe('{"body":"hi"}');
    expect(acme.requests[0]!.body.toString()).toBe('{"body":"hi"}');
    await setMode('messages', { mode: 'monolith' });

    await setMode('room', { mode: 'shadow' });
    await get(`${proxy.url}/api/rooms/7`, 'acme.localhost', { method: 'POST', body: '{}' });
    const metrics = (await admin(proxy, 'GET', '/metrics', undefined)).text;
    expect(metrics).toMatch(/strangler_proxy_shadow_total\{route="room",outcome="skipped_write"\} 1/);
    expect(service.requests).toHaveLength(1);
    await setMode('room', { mode: 'monolith' });
  });

  it('shadow: a hanging shadow target never slows the primary; copies past the queue are dropped and counted', async () => {
    await setMode('messages', { mode: 'shadow', tenant: 'globex' });
    service.handler = () => {}; // never answers
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = Date.now();
      expect((await get(`${proxy.url}/api/rooms/1/messages`, 'globex.localhost')).json.from).toBe('globex');
      times.push(Date.now() - t);
    }
    expect(Math.max(...times)).toBeLessThan(200);
    // 2 in flight, 4 queued: the other 14 copies were dropped, and counted.
    expect((await admin(proxy, 'GET', '/metrics')).text).toMatch(/strangler_proxy_shadow_total\{route="messages",outcome="dropped_queue_full"\} 14/);
    await setMode('messages', { mode: 'monolith', tenant: 'globex' });
  });

  it('shadow: copies only the route\'s sample (shadow.sampleRate); the rest go to the monolith alone, counted', async () => {
    const outcome = async (route: string, name: string) => Number((await admin(proxy, 'GET', '/metrics')).text.match(new RegExp(`^strangler_proxy_shadow_total\\{route="${route}",outcome="${name}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);
    for (let i = 0; i < 20; i++) expect((await get(`${proxy.url}/sampled/none`, 'acme.localhost')).status).toBe(200);
    expect(acme.requests).toHaveLength(20);
    expect(await outcome('sampled-none', 'skipped_sample')).toBe(20);
    expect(await outcome('sampled-none', 'sent')).toBe(0);
    // A quarter of 400, drawn per request: 100 expected, 60 to 140 allowed (over four standard deviations either side).
    for (let i = 0; i < 400; i++) expect((await get(`${proxy.url}/sampled/quarter`, 'acme.localhost')).status).toBe(200);
    const skipped = await outcome('sampled-quarter', 'skipped_sample');
    expect(400 - skipped).toBeGreaterThanOrEqual(60);
    expect(400 - skipped).toBeLessThanOrEqual(140);
    await eventually(async () => (service.requests.length === 400 - skipped - (await outcome('sampled-quarter', 'dropped_queue_full')) || undefined), 10_000);
    expect(service.requests.every((r) => r.url === '/sampled/quarter')).toBe(true);
  });

  it('canary: a sticky share by header; the same user always lands on the same side', async () => {
    const sides = new Map<string, string>();
    for (let i = 0; i < 200; i++) {
      const user = `u${i}`;
      const r = await get(`${proxy.url}/api/messages/search?q=x`, 'acme.localhost', { headers: { 'x-user': user } });
      sides.set(user, r.json.from);
    }
    const toService = [...sides.values()].filter((s) => s === 'service').length;
    expect(toService).toBeGreaterThan(60);
    expect(toService).toBeLessThan(140);
    for (let i = 0; i < 40; i++) {
      const r = await get(`${proxy.url}/api/messages/search?q=x`, 'acme.localhost', { headers: { 'x-user': `u${i}` } });
      expect(r.json.from).toBe(sides.get(`u${i}`));
    }
  });

  it('extracted: falls back to the monolith for an idempotent request on 5xx and on timeout', async () => {
    await setMode('room', { mode: 'extracted' });
    service.handler = (_req, res) => {
      res.statusCode = 503;
      res.end('down');
    };
    expect((await get(`${proxy.url}/api/rooms/1`, 'acme.localhost')).json.from).toBe('acme');
    service.handler = () => {}; // hangs past headersMs
    expect((await get(`${proxy.url}/api/rooms/1`, 'acme.localhost')).json.from).toBe('acme');
    const metrics = (await admin(proxy, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/strangler_proxy_fallbacks_total\{route="room",service="messaging",reason="status_5xx"\} 1/);
    expect(metrics).toMatch(/strangler_proxy_fallbacks_total\{route="room",service="messaging",reason="timeout"\} 1/);
    await setMode('room', { mode: 'monolith' });
  });

  it('extracted: a non-idempotent request is never retried once sent', async () => {
    await setMode('room', { mode: 'extracted', tenant: 'globex' });
    service.handler = (_req, res) => {
      res.statusCode = 500;
      res.end('{"error":"boom"}');
    };
    const r = await get(`${proxy.url}/api/rooms/1`, 'globex.localhost', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(500);
    expect(r.text).toBe('{"error":"boom"}');
    expect(globex.requests).toHaveLength(0);
    await setMode('room', { mode: 'monolith', tenant: 'globex' });
  });

  it('extracted: the breaker opens after repeated failures and traffic goes straight to the monolith, and a failed probe opens it again', async () => {
    const fallbacks = async (reason: string) => {
      const m = new RegExp(`strangler_proxy_fallbacks_total\\{route="flaky",service="flaky",reason="${reason}"\\} (\\d+)`).exec((await admin(proxy, 'GET', '/metrics')).text);
      return m ? Number(m[1]) : 0;
    };
    for (let i = 0; i < 3; i++) expect((await get(`${proxy.url}/flaky`, 'globex.localhost')).json.from).toBe('globex');
    expect(await fallbacks('connect')).toBe(3);
    expect((await admin(proxy, 'GET', '/metrics')).text).toMatch(/strangler_proxy_breaker_state\{service="flaky"\} 2/);
    expect((await get(`${proxy.url}/flaky`, 'globex.localhost')).json.from).toBe('globex');
    expect(await fallbacks('breaker_open')).toBe(1);
    expect(await fallbacks('connect')).toBe(3); // not even tried while open
    await new Promise((r) => setTimeout(r, 350));
    expect((await get(`${proxy.url}/flaky`, 'globex.localhost')).json.from).toBe('globex'); // the probe fails: open again
    expect(await fallbacks('connect')).toBe(4);
    expect((await admin(proxy, 'GET', '/metrics')).text).toMatch(/strangler_proxy_breaker_state\{service="flaky"\} 2/);
  });

  it('extracted: a POST falls back on connection refused, since nothing was sent', async () => {
    const r = await get(`${proxy.url}/dead`, 'acme.localhost', { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
    expect(r.json).toMatchObject({ from: 'acme', bytes: 7 });
    expect(acme.requests[0]!.body.toString()).toBe('{"x":1}');
  });
});
