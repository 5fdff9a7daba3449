import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { chromium } from 'playwright-core';
import type { ParityReport } from '../src/parity/runner';
import { findChromium } from '../../e2e/support/browser';
import { baseConfig, startUpstream, scratchDir, type Upstream } from './support';

const REPO = path.resolve(__dirname, '..', '..');

/**
 * The offline runner end to end, through the real CLI: a corpus sent to a
 * monolith and an extracted service (real HTTP servers), learned noise,
 * normalisers, the exit code CI reads, and the HTML report opened in
 * headless Chromium.
 */
describe('strangler parity run', () => {
  let monolith: Upstream;
  let service: Upstream;
  let dir: string;
  let seq = 0;

  const json = (res: import('node:http').ServerResponse, body: unknown, status = 200) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };

  beforeAll(async () => {
    // The monolith: a fresh request id and serving time on every answer (noise), microsecond timestamps.
    monolith = await startUpstream('monolith', (req, res) => {
      const [, , kind, id] = req.url!.split('?')[0]!.split('/');
      if (kind === 'rooms') return json(res, { id: Number(id), name: `room ${id}`, request_id: `m-${++seq}`, served_at: new Date(Date.now() + seq).toISOString(), created_at: '2026-11-25T10:00:00.123456Z', members: [{ user_id: 1, role: 'owner' }, { user_id: 2, role: 'member' }] });
      if (kind === 'messages') return json(res, { id: Number(id), body: 'hello', amount: '10.50', request_id: `m-${++seq}` });
      json(res, { error: { code: 'not_found', message: 'no' } }, 404);
    });
    // The extracted service: same data, other formats and order; message 3 really differs.
    service = await startUpstream('service', (req, res) => {
      if (req.headers['x-strangler-tenant'] !== 'acme') return json(res, { error: { code: 'tenant_required' } }, 400);
      const [, , kind, id] = req.url!.split('?')[0]!.split('/');
      if (kind === 'rooms') return json(res, { id: Number(id), name: `room ${id}`, request_id: `s-${++seq}`, served_at: new Date().toISOString(), created_at: '2026-11-25T10:00:00.123Z', members: [{ user_id: 2, role: 'member' }, { user_id: 1, role: 'owner' }] });
      if (kind === 'messages') return json(res, { id: Number(id), body: id === '3' ? 'HELLO' : 'hello', amount: '10.5', request_id: `s-${++seq}` });
      json(res, { error: { code: 'not_found', message: 'no' } }, 404);
    });
    dir = scratchDir('parity');
    // Noise needs a rate: here 5 unchanged pairs (the corpus has 5 messages) in which a path always differed.
    const config = (rooms: object) => baseConfig('postgresql://127.0.0.1:1/unused', { acme: monolith.url }, {
      services: { messaging: { url: service.url } },
      shadow: { noise: { minPairs: 5 } },
      routes: [
        { id: 'rooms-read', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'messaging', mode: 'shadow', parity: rooms },
        { id: 'messages-read', match: { method: 'GET', path: '/api/messages/:id' }, service: 'messaging', mode: 'shadow' },
        { id: 'rooms-write', match: { method: 'POST', path: '/api/rooms' }, service: 'messaging', mode: 'monolith' },
      ],
    });
    fs.writeFileSync(path.join(dir, 'proxy.yaml'), YAML.stringify(config({ sets: { '$.members': 'user_id' }, ignore: ['$.request_id', '$.served_at'] })));
    fs.writeFileSync(path.join(dir, 'bare.yaml'), YAML.stringify(config({})));
    const corpus = [
      ...Array.from({ length: 10 }, (_, i) => ({ method: 'GET', path: `/api/rooms/${i + 1}`, headers: { accept: 'application/json' } })),
      ...Array.from({ length: 5 }, (_, i) => ({ method: 'GET', path: `/api/messages/${i + 1}` })),
      { method: 'POST', path: '/api/rooms', body: '{"name":"x"}', response: { status: 201, body: '{"id":99}' } },
      { method: 'GET', path: '/api/users/1' },
      { method: 'GET', path: '/api/rooms/1', tenant: 'globex' },
    ];
    fs.writeFileSync(path.join(dir, 'corpus.jsonl'), `${corpus.map((c) => JSON.stringify(c)).join('\n')}\n`);
  });

  afterAll(async () => {
    await monolith?.close();
    await service?.close();
  });

  /** The real CLI, asynchronously: the upstreams live in this process and must keep answering. */
  const cli = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(REPO, 'cli/bin/strangler.cjs'), 'parity', 'run', '--config', path.join(dir, 'proxy.yaml'), ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });

  it('fails the run on a real difference and on comparisons matched only past learned noise, passes on declared noise and normalised formats, and says why in both reports', async () => {
    const run = await cli('--corpus', 'corpus.jsonl', '--tenant', 'acme', '--out', 'out');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/^PASS {2}rooms-read GET \/api\/rooms\/:id {2}10 samples {2}10 match {2}0 mismatch \(0\.0 %\) {2}0 filtered \(0\.0 %\) {2}0 errors/m);
    // The request id is learned (5 of 5 pairs): those comparisons are filtered, not matched, and 80 % filtered fails the route.
    expect(run.stdout).toMatch(/^FAIL {2}messages-read GET \/api\/messages\/:id {2}5 samples {2}0 match {2}1 mismatch \(20\.0 %\) {2}4 filtered \(80\.0 %\)/m);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'out/parity-report.json'), 'utf8')) as ParityReport;
    expect(report.totals).toEqual({ requests: 18, compared: 15, matches: 10, filtered: 4, mismatches: 1, errors: 0, skipped: 2, noiseDiscarded: 0 });
    expect(report.routes.find((r) => r.route.startsWith('rooms-read'))!.learnedNoise).toEqual([]);
    expect(report.routes.find((r) => r.route.startsWith('messages-read'))!.learnedNoise).toEqual([expect.objectContaining({ path: '$.request_id', seen: 5, samples: 5, rate: 1, noise: true })]);
    expect(report.mismatches).toHaveLength(1);
    expect(report.mismatches[0]!.request.path).toBe('/api/messages/3');
    expect(report.mismatches[0]!.differences.map((d) => [d.path, d.primary, d.candidate])).toEqual([['$.body', 'hello', 'HELLO']]);
    expect(report.skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/declares no dryRunHeader/), expect.stringMatching(/no route matches/)]);

    // The HTML report, as a user opens it: summary counts and the side-by-side difference.
    const browser = await chromium.launch({ executablePath: findChromium(), args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`file://${path.join(dir, 'out/parity-report.html')}`);
      expect(await page.textContent('#verdict')).toBe('FAIL');
      const totals = Object.fromEntries(await page.$$eval('[data-total]', (els) => els.map((e) => [e.getAttribute('data-total'), Number(e.textContent)])));
      expect(totals).toEqual({ requests: 18, compared: 15, matches: 10, filtered: 4, mismatches: 1, errors: 0, skipped: 2, noiseDiscarded: 0 });
      const row = (route: string, field: string) => page.textContent(`tr[data-route^="${route}"] [data-field="${field}"]`);
      expect([await row('rooms-read', 'samples'), await row('messages-read', 'noise'), await row('messages-read', 'mismatches')]).toEqual(['10', '4', '1']);
      await page.click('details.mismatch summary');
      expect(await page.textContent('details.mismatch table.side')).toContain('HELLO');
      const artifacts = path.join(REPO, 'test-artifacts');
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'parity-report.png'), fullPage: true });
      expect(fs.statSync(path.join(artifacts, 'parity-report.png')).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('passes one route alone, and without learned noise reports the request id', async () => {
    const alone = await cli('--corpus', 'corpus.jsonl', '--tenant', 'acme', '--route', 'rooms-read', '--out', 'alone');
    expect(alone.status).toBe(0);
    expect(alone.stdout).toMatch(/^PASS {2}10 compared, 10 match, 0 filtered/m);
    const noisy = await cli('--corpus', 'corpus.jsonl', '--tenant', 'acme', '--route', 'messages-read', '--out', 'noisy', '--no-learn-noise');
    expect(noisy.status).toBe(1);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'noisy/parity-report.json'), 'utf8')) as ParityReport;
    expect(report.mismatches[0]!.differences.map((d) => d.path)).toEqual(['$.request_id']);
  });

  it('suggests the exact rule for an order difference, in the summary and the report, and the rule makes it a match', async () => {
    const bare = await cli('--corpus', 'corpus.jsonl', '--tenant', 'acme', '--route', 'rooms-read', '--out', 'bare', '--config', path.join(dir, 'bare.yaml'));
    expect(bare.status).toBe(1);
    expect(bare.stdout).toMatch(/^suggested: add to routes\[rooms-read\]\.parity: sets: \{ "\$\.members": "user_id" \} {2}\(the same elements in another order; resolves 4 differences\)$/m);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'bare/parity-report.json'), 'utf8')) as ParityReport;
    expect(report.mismatches[0]!.suggestions.map((s) => s.text)).toEqual(['sets: { "$.members": "user_id" }']);
    // With the suggested rule (and the request's own fields declared), the route passes.
    const fixed = await cli('--corpus', 'corpus.jsonl', '--tenant', 'acme', '--route', 'rooms-read', '--out', 'fixed');
    expect(fixed.status).toBe(0);
  });

  it('refuses a bad corpus line by line, an unknown tenant, and a bad threshold, running nothing', async () => {
    fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"method":"GET","path":"/api/rooms/1"}\nnot json\n{"method":"get","path":"x"}\n');
    const bad = await cli('--corpus', 'bad.jsonl', '--tenant', 'acme');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/STR_ERR_PARITY_CORPUS_INVALID/);
    expect(bad.stderr).toMatch(/line 2: not JSON/);
    expect(bad.stderr).toMatch(/line 3: method must be an upper-case HTTP method/);
    expect(bad.stderr).toMatch(/line 3: path must start with \//);
    const unknown = await cli('--corpus', 'corpus.jsonl', '--tenant', 'initech');
    expect(unknown.stderr).toMatch(/tenant initech is not in the proxy config .*\(known: acme\) \[STR_ERR_PARITY_UNKNOWN_TARGET\]/);
    const threshold = await cli('--corpus', 'corpus.jsonl', '--tenant', 'acme', '--max-mismatch-rate', '5');
    expect(threshold.status).not.toBe(0);
    expect(threshold.stderr).toMatch(/must be a fraction from 0 to 1/);
  });
});
