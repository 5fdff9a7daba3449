import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import type { ProxyConfigInput } from '../src/config/schema';
import { admin, baseConfig, controlStore, eventually, get, READ_TOKEN, startProxy, startUpstream, type TestProxy, type Upstream, WRITE_TOKEN } from './support';

const REPO = path.resolve(__dirname, '..', '..');
const run = promisify(execFile);

/** Flips by file, by API and by CLI; rollback and history; replicas converging on one control store. */
describe('flips', () => {
  let acme: Upstream;
  let service: Upstream;
  let store: { url: string; drop: () => Promise<void> };
  let config: ProxyConfigInput;
  let a: TestProxy;
  let b: TestProxy;

  const from = async (p: TestProxy, route = '/api/rooms') => (await get(`${p.url}${route}`, 'acme.localhost')).json.from as string;

  beforeAll(async () => {
    [acme, service, store] = await Promise.all([startUpstream('acme'), startUpstream('service'), controlStore()]);
    config = baseConfig(store.url, { acme: acme.url }, {
      services: { messaging: { url: service.url } },
      routes: [
        { id: 'rooms', match: { method: 'GET', path: '/api/rooms' }, service: 'messaging', mode: 'monolith' },
        { id: 'users', match: { method: 'GET', path: '/api/users' }, service: 'messaging', mode: 'monolith' },
      ],
    });
    a = await startProxy(config);
    b = await startProxy(config, { file: a.file }); // a second replica on the same file and store
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all([acme?.close(), service?.close()]);
    await store?.drop();
  });

  it('flips by editing the file: both replicas reload within a second and the change is audited', async () => {
    const edited = structuredClone(config);
    edited.routes![0]!.mode = 'extracted';
    const t0 = Date.now();
    a.write(edited);
    await eventually(async () => ((await from(a)) === 'service' && (await from(b)) === 'service') || undefined, 1000);
    expect(Date.now() - t0).toBeLessThan(1000);
    const history = (await admin(a, 'GET', '/routes/rooms/history')).json.data;
    expect(history[0]).toMatchObject({ source: 'file', previous: { mode: 'monolith' }, next: { mode: 'extracted' }, reason: 'changed in the config file' });
    // Two replicas reading one file record the change once, not twice.
    expect(history.filter((c: any) => c.next?.mode === 'extracted')).toHaveLength(1);
    a.write(config);
    await eventually(async () => ((await from(a)) === 'acme' && (await from(b)) === 'acme') || undefined, 1000);
  });

  it('refuses an invalid edit with every error, keeps serving the last good config, and says so', async () => {
    const broken = structuredClone(config) as any;
    broken.routes[0].service = 'nowhere';
    broken.routes[1].mode = 'sideways';
    a.write(broken);
    const reload = await eventually(async () => {
      const r = (await admin(a, 'GET', '/config')).json.lastReload;
      return r.ok === false ? r : undefined;
    }, 1000);
    expect(reload.issues.map((i: any) => i.path)).toEqual(['routes.1.mode']); // structure first: the whole schema at once
    expect(await from(a)).toBe('acme');
    expect((await admin(a, 'GET', '/metrics')).text).toMatch(/strangler_proxy_config_reloads_total\{result="rejected"\} [1-9]/);
    delete broken.routes[1].mode;
    a.write(broken);
    const semantic = await eventually(async () => {
      const r = (await admin(a, 'GET', '/config')).json.lastReload;
      return r.ok === false && r.issues[0]?.path === 'routes.0.service' ? r : undefined;
    }, 1000);
    expect(semantic.issues[0].message).toBe('is not a service declared under services (known: messaging)');
    a.write(config);
    await eventually(async () => (await admin(a, 'GET', '/config')).json.lastReload.ok || undefined, 1000);
  });

  it('flips by API: tokens are required, read tokens cannot write, and every change names who and why', async () => {
    expect((await admin(a, 'GET', '/routes', undefined, 'not-a-token')).status).toBe(401);
    expect((await fetch(`${a.admin}/routes`)).status).toBe(401);
    expect((await fetch(`${a.admin}/metrics`)).status).toBe(401);
    const ro = await admin(a, 'PUT', '/routes/rooms/mode', { mode: 'extracted', reason: 'x' }, READ_TOKEN);
    expect(ro.status).toBe(403);
    expect(ro.json.error.code).toBe('STR_ERR_ADMIN_FORBIDDEN');
    const noReason = await admin(a, 'PUT', '/routes/rooms/mode', { mode: 'extracted' });
    expect(noReason.status).toBe(400);
    expect(noReason.json.error.code).toBe('STR_ERR_ADMIN_BAD_REQUEST');
    expect((await admin(a, 'PUT', '/routes/nope/mode', { mode: 'extracted', reason: 'x' })).json.error.code).toBe('STR_ERR_ROUTE_UNKNOWN');
    const form = await fetch(`${a.admin}/routes/rooms/mode`, { method: 'PUT', headers: { authorization: `Bearer ${WRITE_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'mode=extracted&reason=x' });
    expect({ status: form.status, body: await form.json() }).toEqual({ status: 400, body: { error: { code: 'STR_ERR_ADMIN_BAD_REQUEST', message: 'send a JSON object with Content-Type: application/json' } } });
    expect((await admin(a, 'PUT', '/routes/rooms/mode', { mode: 'canary', reason: 'x' })).status).toBe(400);
    // The right endpoint with the wrong method says which methods it takes; an unknown one is a 404.
    const wrong = await admin(a, 'POST', '/routes/rooms/mode', { mode: 'extracted', reason: 'x' });
    expect({ status: wrong.status, allow: wrong.headers.get('allow'), body: wrong.json }).toEqual({
      status: 405,
      allow: 'PUT',
      body: { error: { code: 'STR_ERR_ADMIN_METHOD_NOT_ALLOWED', message: 'POST is not allowed on /routes/rooms/mode: use PUT' } },
    });
    expect((await admin(a, 'DELETE', '/routes')).headers.get('allow')).toBe('GET, HEAD');
    expect((await admin(a, 'GET', '/routes/rooms/nope')).json.error.code).toBe('STR_ERR_ADMIN_NOT_FOUND');

    const t0 = Date.now();
    const set = await admin(a, 'PUT', '/routes/rooms/mode', { mode: 'extracted', tenant: 'acme', reason: 'ticket 42' });
    expect(set.status).toBe(200);
    expect(set.json.change).toMatchObject({ actor: 'ops', reason: 'ticket 42', source: 'api', scope: 'acme', next: { mode: 'extracted' } });
    expect(await from(a)).toBe('service');
    await eventually(async () => ((await from(b)) === 'service') || undefined, 1000); // the other replica converges within a second
    expect(Date.now() - t0).toBeLessThan(1000);

    const rolled = await admin(a, 'POST', '/routes/rooms/rollback', { tenant: 'acme', reason: 'bad numbers' });
    expect(rolled.json.change).toMatchObject({ source: 'rollback', previous: { mode: 'extracted' }, next: null });
    expect(await from(a)).toBe('acme');
    await eventually(async () => ((await from(b)) === 'acme') || undefined, 1000);
  });

  it('flips by CLI: set, list, history and rollback', async () => {
    const env = { ...process.env, STRANGLER_ADMIN_URL: a.admin, STRANGLER_ADMIN_TOKEN: WRITE_TOKEN };
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'routes', ...args], { env, cwd: REPO });
    const set = await cli('set', 'users', 'canary', '--percent', '100', '--reason', 'cli test');
    expect(set.stdout).toMatch(/users: monolith -> canary 100% by ops:\S+ \(api\): cli test/);
    expect((await get(`${a.url}/api/users`, 'acme.localhost')).json.from).toBe('service');
    const list = await cli('list');
    expect(list.stdout).toMatch(/users\s+GET \/api\/users\s+messaging\s+acme=canary 100%/);
    const rollback = await cli('rollback', 'users');
    expect(rollback.stdout).toMatch(/canary 100% -> monolith/);
    const history = await cli('history', 'users');
    expect(history.stdout.split('\n')[0]).toMatch(/rollback/);
    const typo = await cli('history', 'usres').catch((e) => e);
    expect({ code: typo.code, stderr: typo.stderr.trim() }).toEqual({ code: 1, stderr: expect.stringMatching(/^strangler: no route with id "usres".*\[STR_ERR_ROUTE_UNKNOWN\]$/) });
    expect((await get(`${a.url}/api/users`, 'acme.localhost')).json.from).toBe('acme');
    const bad = await cli('set', 'users', 'sideways', '--reason', 'x').catch((e) => e);
    expect(bad.code).toBe(1);
    // Reported as one line, not a crash with a stack.
    expect(bad.stderr.trim()).toBe('strangler: mode must be one of monolith, shadow, canary, extracted (got "sideways") [STR_ERR_CLI_USAGE]');
    const down = await run(process.execPath, ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'routes', 'list'], {
      env: { ...env, STRANGLER_ADMIN_URL: 'http://127.0.0.1:1' },
      cwd: REPO,
    }).catch((e) => e);
    expect(down.stderr).toContain("cannot reach the proxy's admin API at http://127.0.0.1:1");
  });

  it('a replica that restarts comes back with the current state, and a reload does not undo a command flip', async () => {
    await admin(a, 'PUT', '/routes/users/mode', { mode: 'extracted', reason: 'keep me' });
    await b.stop();
    b = await startProxy(config, { file: a.file });
    expect((await get(`${b.url}/api/users`, 'acme.localhost')).json.from).toBe('service');
    // Touch the file without changing what it declares for users: the flip stands.
    const before = (await admin(a, 'GET', '/config')).json.lastReload.at;
    a.write(`${YAML.stringify(config)}\n# touched\n`);
    await eventually(async () => (await admin(a, 'GET', '/config')).json.lastReload.at !== before || undefined, 1000);
    expect((await get(`${a.url}/api/users`, 'acme.localhost')).json.from).toBe('service');
    await admin(a, 'POST', '/routes/users/rollback', {});
  });
});
