import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '@strangler/common';
import { compileConfig, compileConfigText } from './compile';
import { JSON_SCHEMA_FILE, proxyConfigJsonSchema } from './json-schema';

const base = () => ({
  admin: { tokens: [{ name: 'ops', role: 'write', token: { value: 'a-long-enough-token' } }] },
  controlStore: { url: { value: 'postgres://x@127.0.0.1/x' } },
  tenants: { acme: { monolith: 'http://127.0.0.1:18101', hosts: ['acme.localhost'] }, globex: { monolith: 'http://127.0.0.1:18102', hosts: ['globex.localhost'] } },
  services: { messaging: { url: 'http://127.0.0.1:18201' } },
  routes: [] as unknown[],
});

function issues(input: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    compileConfig(input, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('proxy config', () => {
  it('compiles a valid config with defaults filled in and freezes it', () => {
    const c = compileConfig(base(), 'test.yaml');
    expect(c.config.listen).toEqual({ host: '127.0.0.1', port: 8080, workers: 1 });
    expect(c.config.forwarding.maxBodyBytes).toBe(10 * 1024 * 1024);
    expect(c.hostToTenant.get('globex.localhost')).toBe('globex');
    expect(Object.isFrozen(c.config.forwarding)).toBe(true);
  });

  it('reports every structural error at once, with path and value', () => {
    const bad = { ...base(), listen: { port: 70000, workers: 0 }, tenants: { Acme: { monolith: 'ftp://x' } }, bogus: 1 };
    let error: ConfigError | undefined;
    try {
      compileConfig(bad, 'test.yaml');
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toContain('listen.port: must be between 0 and 65535 (got 70000)');
    expect(error!.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['listen.port', 'listen.workers', 'tenants.Acme', '(root)']));
    expect(error!.issues.find((i) => i.path === 'listen.workers')?.value).toBe(0);
    expect(compileConfig({ ...base(), listen: { workers: 'auto' } }, 'test.yaml').config.listen.workers).toBe('auto');
  });

  it('samples shadow copies at shadow.sampleRate (default 1), a route at its own when it sets one, and refuses a rate outside 0-1', () => {
    const cfg = { ...base(), shadow: { sampleRate: 0.5 }, routes: [
      { id: 'own', match: { path: '/own' }, service: 'messaging', mode: 'shadow', shadow: { sampleRate: 0.1 } },
      { id: 'global', match: { path: '/global' }, service: 'messaging', mode: 'shadow' },
    ] };
    const c = compileConfig(cfg, 'test.yaml');
    expect(c.config.shadow.sampleRate).toBe(0.5);
    expect(c.table.byId.get('own')!.shadowSampleRate).toBe(0.1);
    expect(c.table.byId.get('global')!.shadowSampleRate).toBeNull();
    expect(compileConfig(base(), 'test.yaml').config.shadow.sampleRate).toBe(1);
    expect(issues({ ...cfg, shadow: { sampleRate: 2 }, routes: [{ id: 'r', match: { path: '/r' }, service: 'messaging', shadow: { sampleRate: -0.1 } }] })).toEqual([
      'routes.0.shadow.sampleRate: Too small: expected number to be >=0',
      'shadow.sampleRate: Too big: expected number to be <=1',
    ]);
  });

  it('reports every semantic error at once: duplicates, unknown names, unreachable routes, unsafe mirroring', () => {
    const cfg = base();
    cfg.routes = [
      { id: 'rooms', match: { path: '/api/rooms/*' }, service: 'messaging' },
      { id: 'rooms', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'messaging' },
      { id: 'ghost', match: { path: '/ghost' }, service: 'nowhere', mode: 'extracted' },
      { id: 'orphan', match: { path: '/orphan' }, mode: 'shadow' },
      { id: 'typo-tenant', match: { path: '/t' }, service: 'messaging', tenants: { acmee: { mode: 'shadow' } } },
      { id: 'writes', match: { method: 'POST', path: '/w' }, service: 'messaging', mode: 'shadow', shadow: { mirrorWrites: true } },
      { id: 'sticky', match: { path: '/s' }, service: 'messaging', mode: 'canary', percent: 5, canary: { stickyBy: 'header' } },
      { id: 'half-canary', match: { path: '/h' }, service: 'messaging', mode: 'canary' },
    ];
    expect(issues(cfg)).toEqual([
      'routes.1.id: duplicates routes.0.id',
      'routes.1.match: is never reached: routes.0 (rooms) matches every request this route would',
      'routes.2.service: is not a service declared under services (known: messaging)',
      'routes.3.service: is required: a mode other than monolith needs an extracted service',
      'routes.4.tenants.acmee: is not a tenant declared under tenants (known: acme, globex)',
      'routes.5.shadow.mirrorWrites: needs services.messaging.dryRunHeader: writes are only mirrored to a service that rolls them back',
      'routes.6.canary.header: is required when stickyBy is header',
      'routes.7.percent: is required when mode is canary',
    ]);
  });

  it('refuses shared hosts, bad CIDRs, missing secrets and short tokens', () => {
    const cfg = {
      ...base(),
      admin: { tokens: [{ name: 'ops', role: 'write', token: { env: 'NOPE_TOKEN' } }, { name: 'ro', role: 'read', token: { value: 'short' } }] },
      tenants: { acme: { monolith: 'http://127.0.0.1:1', hosts: ['a.localhost'] }, globex: { monolith: 'http://127.0.0.1:2', hosts: ['a.localhost'] } },
      forwarding: { trustedProxies: ['300.1.1.1', '10.0.0.0/40'] },
    };
    expect(issues(cfg)).toEqual([
      "tenants.globex.hosts.0: is already tenant acme's host",
      'forwarding.trustedProxies.0: is not an IP address',
      'forwarding.trustedProxies.1: prefix /40 is too long for IPv4',
      'admin.tokens.0.token.env: environment variable NOPE_TOKEN is not set',
      'admin.tokens.1.token: is too short: use at least 16 characters',
    ]);
  });

  it('points at the line of a YAML syntax error', () => {
    expect(() => compileConfigText('tenants:\n  acme: [\n', 'bad.yaml')).toThrow(/\(line \d+, column \d+\): YAML: /);
    expect(() => compileConfigText('a: 1\na: 2\n', 'dup.yaml')).toThrow(/YAML: Map keys must be unique/);
  });

  it('accepts the example config shipped in the repository', () => {
    const file = path.resolve(__dirname, '..', '..', 'examples', 'proxy.yaml');
    const env = { STRANGLER_ADMIN_TOKEN: 'x'.repeat(20), STRANGLER_READ_TOKEN: 'y'.repeat(20), STRANGLER_CONTROL_URL: 'postgres://x@127.0.0.1/x' };
    const c = compileConfigText(fs.readFileSync(file, 'utf8'), file, env);
    expect(c.table.routes.map((r) => r.id)).toEqual(['rooms-list', 'room-get', 'room-messages', 'message-get']);
    expect(YAML.parse(fs.readFileSync(file, 'utf8'))).toBeTruthy();
  });

  it('publishes the JSON Schema generated from the zod schema (run `npm run proxy:schema` after changing it)', () => {
    const file = path.resolve(__dirname, '..', '..', '..', JSON_SCHEMA_FILE);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(proxyConfigJsonSchema());
  });
});
