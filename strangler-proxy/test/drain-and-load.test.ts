import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Agent, request } from 'undici';
import { freePort } from '@strangler/stack';
import type { ProxyConfigInput } from '../src/config/schema';
import { admin, baseConfig, controlStore, eventually, get, startProxy, startUpstream, scratchDir, type Upstream } from './support';

const REPO = path.resolve(__dirname, '..', '..');

describe('graceful drain on SIGTERM', () => {
  let acme: Upstream;
  let store: { url: string; drop: () => Promise<void> };
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    [acme, store] = await Promise.all([startUpstream('acme'), controlStore()]);
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await acme?.close();
    await store?.drop();
  });

  it('finishes the requests in flight, answers new ones 503 with Connection: close, then exits 0', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const dir = scratchDir('drain');
    const file = path.join(dir, 'proxy.yaml');
    const cfg = baseConfig(store.url, { acme: acme.url }, { drain: { timeoutMs: 5000 } });
    cfg.listen = { host: '127.0.0.1', port };
    cfg.admin!.port = adminPort;
    fs.writeFileSync(file, YAML.stringify(cfg));
    child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'proxy', 'serve', '--config', file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok).catch(() => false)) || undefined, 30_000).catch((e) => {
      throw new Error(`${e.message}: ${stderr}`);
    });

    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    acme.handler = (_req, res) => void gate.then(() => res.end('slow done'));
    const agent = new Agent({ connections: 4 });
    const slow = request(`${url}/slow`, { headers: { host: 'acme.localhost' }, dispatcher: agent }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
    await eventually(() => acme.requests.length === 1 || undefined);

    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const during = await request(`${url}/new`, { headers: { host: 'acme.localhost' }, dispatcher: agent });
    expect(during.statusCode).toBe(503);
    expect(during.headers.connection).toBe('close');
    expect(JSON.parse(await during.body.text()).error.code).toBe('STR_ERR_PROXY_DRAINING');
    expect(acme.requests).toHaveLength(1);

    release();
    expect(await slow).toEqual({ status: 200, body: 'slow done' });
    expect(await exited).toBe(0);
    child = null;
    await agent.close();
  }, 60_000);
});

describe('flips and reloads under load', () => {
  let acme: Upstream;
  let globex: Upstream;
  let service: Upstream;
  let store: { url: string; drop: () => Promise<void> };

  beforeAll(async () => {
    [acme, globex, service, store] = await Promise.all([startUpstream('acme'), startUpstream('globex'), startUpstream('service'), controlStore()]);
  });
  afterAll(async () => {
    await Promise.all([acme?.close(), globex?.close(), service?.close()]);
    await store?.drop();
  });

  it('100 flips and 20 config reloads during steady load: 0 failed client requests', async () => {
    const cfg: ProxyConfigInput = baseConfig(store.url, { acme: acme.url, globex: globex.url }, {
      services: { messaging: { url: service.url } },
      routes: [
        { id: 'rooms', match: { method: 'GET', path: '/api/rooms' }, service: 'messaging' },
        { id: 'messages', match: { path: '/api/rooms/:id/messages' }, service: 'messaging' },
      ],
    });
    const proxy = await startProxy(cfg);
    const applied = () => proxy.rt.reloadCounts.applied;
    const agent = new Agent({ connections: 16, keepAliveTimeout: 10_000 });
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const worker = async (i: number) => {
      const tenant = i % 2 === 0 ? 'acme' : 'globex';
      const paths = ['/api/rooms', '/api/rooms/3/messages', '/api/users'];
      let n = 0;
      while (!stop) {
        const p = paths[n++ % paths.length]!;
        try {
          const r = await request(`${proxy.url}${p}`, { method: n % 5 === 0 ? 'POST' : 'GET', body: n % 5 === 0 ? '{"x":1}' : null, headers: { host: `${tenant}.localhost`, 'content-type': 'application/json' }, dispatcher: agent });
          const body = await r.body.json() as { from: string };
          if (r.statusCode !== 200 || !['acme', 'globex', 'service'].includes(body.from)) failures.push(`${r.statusCode} ${JSON.stringify(body)}`);
          else ok++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, i) => worker(i)));
    const modes = [{ mode: 'extracted' }, { mode: 'shadow' }, { mode: 'canary', percent: 50 }, { mode: 'monolith' }];
    for (let i = 0; i < 100; i++) {
      const r = await admin(proxy, 'PUT', `/routes/${i % 2 ? 'rooms' : 'messages'}/mode`, { ...modes[i % 4], reason: `flip ${i}`, ...(i % 3 === 0 ? { tenant: 'acme' } : {}) });
      if (r.status !== 200) failures.push(`flip ${i}: ${r.text}`);
      if (i % 5 === 4) {
        const edited = structuredClone(cfg);
        edited.routes![0]!.mode = (['monolith', 'extracted'] as const)[(i / 5) % 2]!;
        edited.forwarding = { via: `strangler-${i}` };
        proxy.write(edited);
        const reloads = (i + 1) / 5;
        await eventually(async () => (applied() === reloads) || undefined, 3000);
      }
    }
    expect(applied()).toBe(20);
    stop = true;
    await load;
    await proxy.stop();
    await agent.close();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(500);
  }, 120_000);
});
