import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ProxyConfigInput } from '../src/config/schema';
import { WRITE_TOKEN, admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

/**
 * Shadow parity in flight and the gates it feeds, over a real proxy, a real
 * control store and real upstreams: promotion from shadow through a canary
 * step to extracted after enough clean samples, rollback on a spike (errors
 * while extracted, mismatches while shadowing), freeze and pause, every
 * automatic move in the audit log with its figures.
 */
describe('parity gates', () => {
  let monolith: Upstream;
  let service: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let proxy: TestProxy;
  let behaviour: 'same' | 'different' | 'failing' = 'same';
  let n = 0;

  const room = (id: string, name: string, rid: string) => JSON.stringify({ id: Number(id), name, request_id: rid, email: 'client@bank.example' });

  beforeAll(async () => {
    monolith = await startUpstream('monolith', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(room(req.url!.split('/').pop()!, 'FX desk', `m-${++n}`));
    });
    service = await startUpstream('service', (req, res) => {
      if (behaviour === 'failing') {
        res.writeHead(500, { 'content-type': 'application/json' });
        return void res.end('{"error":{"code":"boom"}}');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(room(req.url!.split('/').pop()!, behaviour === 'different' ? 'fx desk' : 'FX desk', `s-${++n}`));
    });
    store = await controlStore();
  });

  afterAll(async () => {
    await proxy?.stop();
    await monolith?.close();
    await service?.close();
    await store?.drop();
  });

  const config = (parity: { ignore?: string[] } = {}, rollbackMinSamples = 6): ProxyConfigInput =>
    baseConfig(store.url, { acme: monolith.url, globex: monolith.url }, {
      services: { messaging: { url: service.url } },
      shadow: { noiseSampleRate: 1, redact: { jsonPaths: ['$.email'] } },
      gates: { intervalMs: 100 },
      routes: [
        {
          id: 'rooms-read',
          match: { method: 'GET', path: '/api/rooms/:id' },
          service: 'messaging',
          mode: 'monolith',
          tenants: { acme: { mode: 'shadow' } },
          canary: { stickyBy: 'header', header: 'x-client' },
          parity,
          gate: { promote: { minSamples: 20, maxMismatchRate: 0.05, maxErrorRate: 0.05, canarySteps: [50] }, rollback: { windowMs: 10_000, minSamples: rollbackMinSamples, maxMismatchRate: 0.3, maxErrorRate: 0.3 } },
        },
      ],
    });

  const traffic = async (count: number, tenant = 'acme') => {
    for (let i = 0; i < count; i++) {
      const r = await get(`${proxy.url}/api/rooms/${i % 5}`, `${tenant}.localhost`, { headers: { authorization: 'Bearer secret-of-the-client', 'x-client': `client-${i}-${n}` } });
      expect(r.status).toBe(200);
    }
  };
  const modeOf = async (tenant: string) => (await admin(proxy, 'GET', '/routes/rooms-read')).json.tenants[tenant];
  const until = async (tenant: string, want: object, feed: () => Promise<void>) =>
    eventually(async () => {
      await feed();
      const m = await modeOf(tenant);
      return JSON.stringify(m) === JSON.stringify(want) ? m : undefined;
    }, 30_000, 50);

  it('does not promote while comparisons match only past learned noise; promotes once the noisy field is declared, with the figures in the audit log', async () => {
    // Until noise is learned (10 unchanged pairs), the request_id is a real difference: no rollback on those early mismatches here.
    proxy = await startProxy(config({}, 1000));
    // Every answer carries a fresh request_id: learned as noise (each pair of monolith answers differs there), so
    // every comparison is filtered, none matched: far past maxFilteredShare (5 %), the gate must not move.
    await eventually(async () => {
      await traffic(10);
      const p = (await admin(proxy, 'GET', '/parity')).json;
      const acme = p.data.find((d: { tenant: string }) => d.tenant === 'acme');
      return acme && acme.noiseFiltered >= 40 && p.noise[0]?.learned.some((l: { path: string; noise: boolean }) => l.path === '$.request_id' && l.noise) ? acme : undefined;
    }, 30_000, 50);
    await new Promise((r) => setTimeout(r, 300)); // a few gate ticks
    expect(await modeOf('acme')).toEqual({ mode: 'shadow' });
    const seen = (await admin(proxy, 'GET', '/parity')).json.data.find((d: { tenant: string }) => d.tenant === 'acme');
    expect(seen.matched).toBe(0);
    expect(seen.noiseFiltered).toBeGreaterThan(seen.mismatches);
    expect(seen.filteredShare).toBeGreaterThan(0.05);
    // The operator declares the field (a reviewed rule), and starts the shadow period afresh.
    const before = (await admin(proxy, 'GET', '/config')).json.lastReload.at;
    proxy.write(config({ ignore: ['$.request_id'] }));
    await eventually(async () => ((await admin(proxy, 'GET', '/config')).json.lastReload.at !== before ? true : undefined), 10_000, 50);
    expect((await admin(proxy, 'GET', '/config')).json.lastReload.ok).toBe(true);
    expect((await admin(proxy, 'PUT', '/routes/rooms-read/mode', { mode: 'monolith', tenant: 'acme', reason: 'restart the shadow period' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    expect((await admin(proxy, 'PUT', '/routes/rooms-read/mode', { mode: 'shadow', tenant: 'acme', reason: 'request_id ignored' })).status).toBe(200);
    await until('acme', { mode: 'canary', percent: 50 }, () => traffic(5));
    await until('acme', { mode: 'extracted' }, () => traffic(10));
    expect(await modeOf('globex')).toEqual({ mode: 'monolith' }); // gates move tenants one by one; globex never shadowed
    const history = (await admin(proxy, 'GET', '/routes/rooms-read/history')).json.data as Array<{ source: string; actor: string; reason: string; scope: string; next: object }>;
    const moves = history.filter((h) => h.source === 'gate').reverse();
    expect(moves.map((m) => [m.scope, m.next])).toEqual([
      ['acme', { mode: 'canary', percent: 50 }],
      ['acme', { mode: 'extracted' }],
    ]);
    expect(moves[0]!.actor).toBe('gate');
    expect(moves[0]!.reason).toMatch(/^gate promote: (\d+) shadow comparisons \(\1 matched, 0 filtered by learned noise, 0 mismatched\), mismatch rate 0\.0 % <= 5\.0 %, filtered 0\.0 % <= 5\.0 %, extracted error rate 0\.0 % <= 5\.0 %$/);
    expect(moves[1]!.reason).toMatch(/^gate promote: canary 50 %: \d+ requests served by the extracted service, error rate 0\.0 % <= 5\.0 %$/);
    expect((await admin(proxy, 'GET', '/metrics')).text).toMatch(/strangler_proxy_gate_moves_total\{route="rooms-read",tenant="acme",kind="promote"\} 2/);
  });

  it('rolls an extracted route back to the monolith at once when the service starts failing', async () => {
    behaviour = 'failing';
    await until('acme', { mode: 'monolith' }, () => traffic(3)); // the client never saw the 500s: fallback answered
    const last = (await admin(proxy, 'GET', '/routes/rooms-read/history')).json.data[0];
    expect(last.source).toBe('gate');
    expect(last.reason).toMatch(/^gate rollback: extracted error rate \d+\.\d % > 30\.0 % over \d+ requests it served in 10 s$/);
    behaviour = 'same';
  });

  it('rolls a shadowed route back on a mismatch spike, and keeps redacted samples of the mismatches', async () => {
    expect((await admin(proxy, 'PUT', '/routes/rooms-read/mode', { mode: 'shadow', tenant: 'acme', reason: 'try again' })).status).toBe(200);
    behaviour = 'different';
    await until('acme', { mode: 'monolith' }, () => traffic(3));
    expect((await admin(proxy, 'GET', '/routes/rooms-read/history')).json.data[0].reason).toMatch(/^gate rollback: mismatch rate \d+\.\d % > 30\.0 % over \d+ shadow comparisons in 10 s$/);
    const samples = (await admin(proxy, 'GET', '/parity/mismatches?route=rooms-read&tenant=acme')).json.data;
    expect(samples.length).toBeGreaterThan(0);
    expect(samples[0].differences).toEqual([{ path: '$.name', kind: 'value', primary: 'FX desk', candidate: 'fx desk' }]);
    expect(samples[0].request.headers.authorization).toBe('[redacted]');
    expect(JSON.parse(samples[0].primary.body).email).toBe('[redacted]');
    behaviour = 'same';
  });

  it('moves nothing while a route is frozen or the gates are paused, and resumes after', async () => {
    expect((await admin(proxy, 'POST', '/routes/rooms-read/freeze', { tenant: 'acme', reason: 'audit week' })).status).toBe(200);
    expect((await admin(proxy, 'PUT', '/routes/rooms-read/mode', { mode: 'shadow', tenant: 'acme', reason: 'watch only' })).status).toBe(200);
    await traffic(40);
    await new Promise((r) => setTimeout(r, 500));
    expect(await modeOf('acme')).toEqual({ mode: 'shadow' });
    expect((await admin(proxy, 'POST', '/gates/pause', { reason: 'incident' })).status).toBe(200);
    expect((await admin(proxy, 'POST', '/routes/rooms-read/unfreeze', { tenant: 'acme', reason: 'audit done' })).status).toBe(200);
    await traffic(10);
    await new Promise((r) => setTimeout(r, 500));
    expect(await modeOf('acme')).toEqual({ mode: 'shadow' });
    expect((await admin(proxy, 'GET', '/gates')).json.paused).toBe(true);
    expect((await admin(proxy, 'POST', '/gates/resume', { reason: 'incident over' })).status).toBe(200);
    await until('acme', { mode: 'canary', percent: 50 }, () => traffic(5));
    const refused = await admin(proxy, 'POST', '/routes/rooms-read/freeze', { tenant: 'acme' });
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toMatch(/reason/);
  });

  it('is driven from the CLI too: freeze, pause, status, parity figures and mismatches', async () => {
    const run = promisify(execFile);
    const cli = async (...args: string[]) => (await run(process.execPath, [path.resolve(__dirname, '../../cli/bin/strangler.cjs'), ...args], { env: { ...process.env, STRANGLER_ADMIN_URL: proxy.admin, STRANGLER_ADMIN_TOKEN: WRITE_TOKEN } })).stdout;
    expect(await cli('routes', 'freeze', 'rooms-read', '--tenant', 'globex', '--reason', 'not yet')).toBe('rooms-read [globex]: frozen (no automatic moves)\n');
    expect(await cli('gates', 'pause', '--reason', 'maintenance')).toBe('gates paused\n');
    const status = await cli('gates', 'status');
    expect(status).toMatch(/^gates: PAUSED\n {2}paused by ops:[\w.@-]+ at \S+: maintenance\n {2}frozen rooms-read:globex by ops:[\w.@-]+ at \S+: not yet\n$/);
    expect(await cli('gates', 'resume', '--reason', 'done')).toBe('gates resumed\n');
    expect(await cli('routes', 'unfreeze', 'rooms-read', '--tenant', 'globex', '--reason', 'ok')).toBe('rooms-read [globex]: unfrozen\n');
    const parityStatus = await cli('parity', 'status');
    expect(parityStatus).toMatch(/^rooms-read \[acme\]: \d+ compared: \d+ matched, \d+ filtered by learned noise \(\d+\.\d %\), \d+ mismatch \(\d+\.\d %\); noise pairs discarded \(data changed\) \d+;/m);
    expect(parityStatus).toMatch(/^noise on rooms-read: \d+ unchanged pair\(s\) of monolith answers/m);
    expect(await cli('parity', 'mismatches', '--route', 'rooms-read', '--limit', '1')).toMatch(/rooms-read \[acme\] GET \/api\/rooms\/\d: monolith 200, extracted 200\n {4}\$\.name \(value\): "FX desk" -> "fx desk"/);
  });
});
