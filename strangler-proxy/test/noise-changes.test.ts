import http from 'node:http';
import pg from 'pg';
import type { ProxyConfigInput } from '../src/config/schema';
import { scratchDatabase } from '../../e2e/support/env';
import { admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

/**
 * Noise learning cannot be blinded by writes that land between the two
 * monolith asks: a real app on a real PostgreSQL database (a list, a detail
 * and a counter route), shadowed, with every shadowed read also asked of the
 * monolith twice, while writes race the reads, first through the proxy (the
 * proxy's own ledger of writes sees them), then straight into the database
 * (only the database's position sees them). No path may be learned as
 * noise; the pairs are counted as discarded. Then, after that noisy-looking
 * period, a candidate broken inside one list element is not promoted, and
 * its mismatch is reported at the element's field.
 */
describe('noise learning while the data changes between the asks', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let pool: pg.Pool;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let monolith: Upstream;
  let service: Upstream;
  let proxy: TestProxy;
  let broken = false;

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  /** The app both sides run: a list, a detail with an edit counter, a global counter, and edits. Reads take a little while, as real ones do. */
  const app = (candidate: boolean) => (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const [, , kind, id] = req.url!.split('?')[0]!.split('/');
    const run = async () => {
      if (req.method === 'PUT' && kind === 'articles') {
        const r = await pool.query('UPDATE articles SET title = $2, edits = edits + 1 WHERE id = $1 RETURNING id, title, edits', [Number(id), JSON.parse(body.toString()).title]);
        return send(res, r.rowCount ? 200 : 404, r.rows[0] ?? { error: 'not found' });
      }
      await new Promise((r) => setTimeout(r, 15));
      if (kind === 'articles' && id === undefined) {
        const rows = (await pool.query('SELECT id, title FROM articles ORDER BY id')).rows as Array<{ id: number; title: string }>;
        return send(res, 200, { articles: rows.map((a, i) => ({ ...a, title: candidate && broken && i === 1 ? a.title.toUpperCase() : a.title })) });
      }
      if (kind === 'articles') {
        const r = await pool.query('SELECT id, title, edits FROM articles WHERE id = $1', [Number(id)]);
        return send(res, r.rowCount ? 200 : 404, r.rows[0] ?? { error: 'not found' });
      }
      if (kind === 'stats') return send(res, 200, { edits: Number((await pool.query('SELECT sum(edits) AS n FROM articles')).rows[0].n) });
      send(res, 404, { error: 'no route' });
    };
    run().catch((err: Error) => send(res, 500, { error: err.message }));
  };

  const config = (database: string | null): ProxyConfigInput => {
    const c = baseConfig(store.url, { acme: monolith.url }, {
      services: { twin: { url: service.url } },
      shadow: { noiseSampleRate: 1, mismatchSamplesPerMinute: 10_000 },
      gates: { intervalMs: 100 },
      routes: [
        {
          id: 'articles-list',
          match: { method: 'GET', path: '/api/articles' },
          service: 'twin',
          mode: 'shadow',
          gate: { promote: { minSamples: 20, maxMismatchRate: 0.05, canarySteps: [] }, rollback: { minSamples: 100_000 } },
        },
        { id: 'article-get', match: { method: 'GET', path: '/api/articles/:id' }, service: 'twin', mode: 'shadow' },
        { id: 'stats', match: { method: 'GET', path: '/api/stats' }, service: 'twin', mode: 'shadow' },
        { id: 'article-put', match: { method: 'PUT', path: '/api/articles/:id' }, service: 'twin', mode: 'monolith' },
      ],
    });
    if (database !== null) (c.tenants as Record<string, { database?: object }>).acme!.database = { value: database };
    return c;
  };

  beforeAll(async () => {
    db = await scratchDatabase('noise');
    pool = new pg.Pool({ connectionString: db.url, max: 8 });
    await pool.query('CREATE TABLE articles (id serial PRIMARY KEY, title text NOT NULL, edits int NOT NULL DEFAULT 0)');
    await pool.query("INSERT INTO articles (title) VALUES ('Rates'), ('Bonds'), ('FX'), ('Credit')");
    store = await controlStore();
    monolith = await startUpstream('monolith', app(false));
    service = await startUpstream('twin', app(true));
    proxy = await startProxy(config(null));
    // The noisy-looking period must not promote anything by itself: the gates watch only at the end.
    expect((await admin(proxy, 'POST', '/gates/pause', { reason: 'noisy period' })).status).toBe(200);
  });

  afterAll(async () => {
    await proxy?.stop();
    await monolith?.close();
    await service?.close();
    await pool?.end();
    await store?.drop();
    await db?.drop();
  });

  const reads = ['/api/articles', '/api/articles/1', '/api/articles/2', '/api/stats'];
  /** Reads through the proxy while `write` runs in a loop, for `ms`. */
  const race = async (ms: number, write: (i: number) => Promise<void>) => {
    const until = Date.now() + ms;
    const writer = async () => {
      for (let i = 0; Date.now() < until; i++) await write(i);
    };
    const reader = async () => {
      for (let i = 0; Date.now() < until; i++) expect((await get(`${proxy.url}${reads[i % reads.length]}`, 'acme.localhost')).status).toBe(200);
    };
    await Promise.all([writer(), writer(), reader(), reader()]);
  };
  /** The learned noise and the discards, once every copy sent has been judged. */
  const settled = async () => {
    await eventually(async () => ((await admin(proxy, 'GET', '/workers')).json.data.every((w: { shadowQueueDepth: number }) => w.shadowQueueDepth === 0) ? true : undefined), 10_000, 100);
    await new Promise((r) => setTimeout(r, 300));
    return (await admin(proxy, 'GET', '/parity')).json as { data: Array<{ route: string; noiseDiscarded: number }>; noise: Array<{ route: string; pairs: number; discarded: Record<string, number>; learned: Array<{ path: string; noise: boolean }> }> };
  };
  const noisePaths = (p: Awaited<ReturnType<typeof settled>>) => p.noise.flatMap((n) => n.learned.filter((l) => l.noise).map((l) => `${n.route} ${l.path}`));
  const discarded = (p: Awaited<ReturnType<typeof settled>>, reason: string) => p.noise.reduce((s, n) => s + (n.discarded[reason] ?? 0), 0);

  it('learns no noise from pairs across writes the proxy forwarded, and counts them discarded', async () => {
    let n = 0;
    await race(4000, async (i) => {
      const r = await get(`${proxy.url}/api/articles/${(i % 2) + 1}`, 'acme.localhost', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: `edit ${++n}` }) });
      expect(r.status).toBe(200);
    });
    const p = await settled();
    expect(noisePaths(p)).toEqual([]);
    expect(discarded(p, 'data_changed')).toBeGreaterThan(10);
    // Discarded per route, on every route that was read while the data moved: list, detail and counter.
    for (const route of ['articles-list', 'article-get', 'stats']) expect(p.noise.find((x) => x.route === route)?.discarded.data_changed ?? 0).toBeGreaterThan(0);
    expect(p.data.reduce((s, d) => s + d.noiseDiscarded, 0)).toBeGreaterThan(10);
  });

  it('learns no noise from pairs across writes made in the database itself, seen by its position', async () => {
    const before = discarded(await settled(), 'data_changed');
    const at = (await admin(proxy, 'GET', '/config')).json.lastReload.at;
    proxy.write(config(db.url));
    await eventually(async () => ((await admin(proxy, 'GET', '/config')).json.lastReload.at !== at ? true : undefined), 10_000, 50);
    expect((await admin(proxy, 'GET', '/config')).json.tenants[0].database).toBe(true);
    let n = 0;
    await race(4000, async (i) => {
      await pool.query('UPDATE articles SET title = $2, edits = edits + 1 WHERE id = $1', [(i % 2) + 1, `direct ${++n}`]);
      await new Promise((r) => setTimeout(r, 2));
    });
    const p = await settled();
    expect(noisePaths(p)).toEqual([]);
    expect(discarded(p, 'data_changed')).toBeGreaterThan(before + 10);
  });

  it('does not promote a candidate broken inside one list element after that period, and reports the mismatch there', async () => {
    broken = true;
    // A fresh shadow period for the list (the gates judge from when the setting began), then the gates watch.
    expect((await admin(proxy, 'PUT', '/routes/articles-list/mode', { mode: 'monolith', tenant: 'acme', reason: 'restart the period' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    expect((await admin(proxy, 'PUT', '/routes/articles-list/mode', { mode: 'shadow', tenant: 'acme', reason: 'watch the broken twin' })).status).toBe(200);
    expect((await admin(proxy, 'POST', '/gates/resume', { reason: 'quiet now' })).status).toBe(200);
    for (let i = 0; i < 60; i++) expect((await get(`${proxy.url}/api/articles`, 'acme.localhost')).status).toBe(200);
    const p = await settled();
    expect(noisePaths(p)).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await admin(proxy, 'GET', '/routes/articles-list')).json.tenants.acme).toEqual({ mode: 'shadow' });
    const list = p.data.find((d) => d.route === 'articles-list') as unknown as { mismatches: number; samples: number };
    expect(list.mismatches).toBeGreaterThanOrEqual(50);
    const sampled = (await admin(proxy, 'GET', '/parity/mismatches?route=articles-list&tenant=acme&limit=1')).json.data;
    expect(sampled[0].differences).toEqual([{ path: '$.articles[1].title', kind: 'value', primary: expect.any(String), candidate: expect.any(String) }]);
    expect(sampled[0].differences[0].candidate).toBe(sampled[0].differences[0].primary.toUpperCase());
  });
});
