import type { ProxyConfigInput } from '../src/config/schema';
import { admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

/**
 * Parity across separate replicas on one control store (not a cluster's
 * workers, which share through their primary): each replica's figures and
 * gates count the comparisons every replica made, so a route promotes on the
 * traffic of all of them, and none counts another's twice.
 */
describe('parity shared by the replicas on one control store', () => {
  let monolith: Upstream;
  let service: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let a: TestProxy;
  let b: TestProxy;

  beforeAll(async () => {
    const page = (id: string) => JSON.stringify({ id: Number(id), name: 'FX desk' });
    monolith = await startUpstream('monolith', (req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(page(req.url!.split('/').pop()!)));
    service = await startUpstream('service', (req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(page(req.url!.split('/').pop()!)));
    store = await controlStore();
    const config: ProxyConfigInput = baseConfig(store.url, { acme: monolith.url }, {
      services: { messaging: { url: service.url } },
      shadow: { noiseSampleRate: 0 },
      gates: { intervalMs: 100 },
      routes: [
        {
          id: 'rooms-read',
          match: { method: 'GET', path: '/api/rooms/:id' },
          service: 'messaging',
          mode: 'shadow',
          gate: { promote: { minSamples: 30, maxMismatchRate: 0.05, maxErrorRate: 0.05, canarySteps: [] }, rollback: { windowMs: 10_000, minSamples: 6, maxMismatchRate: 0.3, maxErrorRate: 0.3 } },
        },
      ],
    });
    a = await startProxy(config);
    b = await startProxy(config, { file: a.file });
    // Held still until the traffic is in: each replica alone then holds fewer samples than the gate asks.
    await admin(a, 'POST', '/gates/pause', { reason: 'test: traffic first' });
    // Gates count evidence from the first whole second after they saw the route's setting: let both see it first.
    await new Promise((r) => setTimeout(r, 2000));
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all([monolith?.close(), service?.close()]);
    await store?.drop();
  });

  const samples = async (p: TestProxy) => ((await admin(p, 'GET', '/parity')).json.data as Array<{ route: string; tenant: string; samples: number }>).find((s) => s.route === 'rooms-read' && s.tenant === 'acme')?.samples ?? 0;

  it("counts every replica's comparisons in each replica's figures, once, and a gate promotes on their sum", async () => {
    for (let i = 0; i < 20; i++) expect((await get(`${a.url}/api/rooms/${i}`, 'acme.localhost')).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await get(`${b.url}/api/rooms/${i}`, 'acme.localhost')).status).toBe(200);
    // Every copy settled in its replica: compared, or (a host too busy to run the shadow thread) starved, which is not judged.
    const outcomes = async (p: TestProxy) => {
      const text = (await admin(p, 'GET', '/metrics')).text;
      const n = (o: string) => Number(new RegExp(`strangler_proxy_shadow_total\\{route="rooms-read",outcome="${o}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      return { settled: n('completed') + n('timeout') + n('error') + n('starved'), compared: n('completed') };
    };
    await eventually(async () => (await outcomes(a)).settled === 20 && (await outcomes(b)).settled === 20, 30_000);
    // Each replica's comparisons (20 each, 40 in all on an idle host) in both replicas' figures: not its own alone, and none counted twice.
    const all = (await outcomes(a)).compared + (await outcomes(b)).compared;
    expect(all).toBeGreaterThanOrEqual(30);
    await eventually(async () => (await samples(a)) === all && (await samples(b)) === all, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect([await samples(a), await samples(b)]).toEqual([all, all]);
    expect((await admin(a, 'GET', '/metrics')).text).toMatch(/strangler_proxy_parity_shared_total\{direction="received"\} [1-9]/);

    // Neither replica saw the 30 the gate asks for; together they did.
    await admin(a, 'POST', '/gates/resume', { reason: 'test: judge now' });
    const mode = async () => (await admin(b, 'GET', '/routes/rooms-read')).json.tenants.acme;
    await eventually(async () => JSON.stringify(await mode()) === JSON.stringify({ mode: 'extracted' }), 10_000);
    const history = (await admin(a, 'GET', '/routes/rooms-read/history')).json.data as Array<{ source: string; reason: string }>;
    const moves = history.filter((h) => h.source === 'gate');
    expect(moves).toHaveLength(1);
    expect(moves[0]!.reason).toMatch(new RegExp(`^gate promote: ${all} shadow comparisons \\(${all} matched, 0 filtered by learned noise, 0 mismatched\\), mismatch rate 0.0 %`));
  });
});
