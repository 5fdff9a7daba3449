import zlib from 'node:zlib';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseCorpus } from '../src/parity/corpus';
import { admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

const run = promisify(execFile);

/** The proxy records a sampled corpus of real traffic, redacted, and `strangler parity run` replays it. */
describe('corpus capture', () => {
  let monolith: Upstream;
  let service: Upstream;
  let store: Awaited<ReturnType<typeof controlStore>>;
  let proxy: TestProxy;

  beforeAll(async () => {
    const answer = (id: string) => JSON.stringify({ id: Number(id), name: `room ${id}`, email: `owner${id}@bank.example` });
    monolith = await startUpstream('monolith', (req, res) => {
      if (req.url!.startsWith('/api/gz/')) {
        // A monolith that compresses and sets a session cookie, as many do behind their own nginx.
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'set-cookie': 'sid=user-session-secret' });
        return void res.end(zlib.gzipSync(answer(req.url!.split('/').pop()!)));
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(req.method === 'POST' ? '{"id":42}' : answer(req.url!.split('/').pop()!));
    });
    service = await startUpstream('service', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer(req.url!.split('/').pop()!));
    });
    store = await controlStore();
    proxy = await startProxy(
      baseConfig(store.url, { acme: monolith.url }, {
        services: { messaging: { url: service.url, dryRunHeader: 'x-dry-run' } },
        shadow: { maxBodyBytes: 1024, redact: { jsonPaths: ['$.email', '$.password'] } },
        capture: { file: 'captured/corpus.jsonl', sampleRate: 1, maxPerRoute: 5 },
        routes: [
          { id: 'rooms-read', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith' },
          { id: 'rooms-shadow', match: { method: 'GET', path: '/api/shadowed/:id' }, service: 'messaging', mode: 'shadow' },
          { id: 'gz-shadow', match: { method: 'GET', path: '/api/gz/:id' }, service: 'messaging', mode: 'shadow' },
          { id: 'users-write', match: { method: 'POST', path: '/api/users' }, mode: 'monolith' },
          { id: 'uploads', match: { method: 'POST', path: '/api/uploads' }, service: 'messaging', mode: 'shadow', shadow: { mirrorWrites: true } },
        ],
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop();
    await monolith?.close();
    await service?.close();
    await store?.drop();
  });

  it('records sampled requests with the monolith answer, redacted and capped per route, and the corpus replays as passing parity', async () => {
    for (let i = 1; i <= 8; i++) await get(`${proxy.url}/api/rooms/${i}`, 'acme.localhost', { headers: { authorization: 'Bearer client-secret', cookie: 'sid=1' } });
    for (let i = 1; i <= 2; i++) await get(`${proxy.url}/api/shadowed/${i}`, 'acme.localhost');
    await get(`${proxy.url}/api/users`, 'acme.localhost', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"a","password":"hunter2"}' });
    await get(`${proxy.url}/api/unrouted`, 'acme.localhost');
    const file = path.join(path.dirname(proxy.file), 'captured/corpus.jsonl');
    // Lines are appended by a stream, off the request path: wait for the eighth.
    const corpus = await eventually(() => {
      const entries = fs.existsSync(file) ? parseCorpus(fs.readFileSync(file, 'utf8'), file) : [];
      return entries.length >= 8 ? entries : undefined;
    }, 5_000);
    expect(corpus.map((c) => c.route)).toEqual(['rooms-read', 'rooms-read', 'rooms-read', 'rooms-read', 'rooms-read', 'rooms-shadow', 'rooms-shadow', 'users-write']);
    const first = corpus[0]!;
    expect(first).toMatchObject({ method: 'GET', path: '/api/rooms/1', tenant: 'acme', headers: { authorization: '[redacted]', cookie: '[redacted]' }, response: { status: 200 } });
    expect(first.headers.host).toBeUndefined();
    expect(JSON.parse(first.response!.body as string)).toEqual({ id: 1, name: 'room 1', email: '[redacted]' });
    const write = corpus[7]!;
    expect(JSON.parse(write.body as string)).toEqual({ name: 'a', password: '[redacted]' });
    expect(write.response).toMatchObject({ status: 201, body: '{"id":42}' });

    // What the proxy captured is what `strangler parity run` takes: both reads routes pass, the write is skipped (no dry-run header).
    const out = await run(process.execPath, [path.resolve(__dirname, '../../cli/bin/strangler.cjs'), 'parity', 'run', '--corpus', file, '--tenant', 'acme', '--config', proxy.file, '--out', path.join(path.dirname(file), 'report')]);
    expect(out.stdout).toMatch(/^PASS {2}7 compared, 7 match, 0 filtered, 0 mismatch, 0 errors, 1 skipped/m);
  });

  it('compares, records and shows what a client reads of a compressed answer, redacted: never the compressed bytes, never its cookie', async () => {
    const r = await get(`${proxy.url}/api/gz/3`, 'acme.localhost', { headers: { 'accept-encoding': 'gzip' } });
    expect(r.headers['content-encoding']).toBe('gzip'); // the client gets the answer as it was sent
    const file = path.join(path.dirname(proxy.file), 'captured/corpus.jsonl');
    const line = await eventually(() => (fs.existsSync(file) ? parseCorpus(fs.readFileSync(file, 'utf8'), file).find((c) => c.route === 'gz-shadow') : undefined), 5_000);
    expect(line.headers['accept-encoding']).toBe('gzip');
    expect(line.response!.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(line.response!.body as string)).toEqual({ id: 3, name: 'room 3', email: '[redacted]' });

    const recent = await eventually(async () => ((await admin(proxy, 'GET', '/shadow/recent')).json.data as Array<Record<string, any>>).find((e) => e.route === 'gz-shadow'), 5_000);
    expect(recent.primary.headers['set-cookie']).toBe('[redacted]');
    expect(JSON.parse(recent.primary.body)).toEqual({ id: 3, name: 'room 3', email: '[redacted]' });
    expect(JSON.parse(recent.shadow.body).email).toBe('[redacted]');
    // The service answered the same room uncompressed: a match, not a mismatch of bytes.
    const parity = await eventually(async () => ((await admin(proxy, 'GET', '/parity')).json.data as Array<Record<string, any>>).find((p) => p.route === 'gz-shadow' && p.samples > 0), 5_000);
    expect(parity).toMatchObject({ samples: 1, mismatches: 0 });
  });

  it('forwards a body larger than the mirror cap whole, to the monolith only, and records nothing of it', async () => {
    const big = Buffer.alloc(100_000, 'x');
    const before = monolith.requests.length;
    const shadowed = service.requests.length;
    const r = await get(`${proxy.url}/api/uploads`, 'acme.localhost', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: big });
    expect(r.status).toBe(201);
    const got = monolith.requests.slice(before).find((q) => q.url === '/api/uploads')!;
    expect(got.body.equals(big)).toBe(true);
    expect(service.requests.length).toBe(shadowed);
    for (let i = 0; i < 3; i++) await get(`${proxy.url}/api/users`, 'acme.localhost', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: big });
    const monolithGot = monolith.requests.filter((q) => q.url === '/api/users').slice(-3);
    expect(monolithGot.every((q) => q.body.equals(big))).toBe(true);
    // Bodies past the cap are never recorded (a corpus line must replay exactly what was sent).
    await new Promise((r) => setTimeout(r, 200));
    const file = path.join(path.dirname(proxy.file), 'captured/corpus.jsonl');
    const lines = parseCorpus(fs.readFileSync(file, 'utf8'), file);
    expect(lines.filter((l) => l.route === 'uploads')).toEqual([]);
    expect(lines.filter((l) => l.route === 'users-write')).toHaveLength(1);
  });
});
