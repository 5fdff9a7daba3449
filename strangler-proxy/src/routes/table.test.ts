import { compileConfig } from '../config/compile';
import { canaryBucket, inCanary } from './canary';
import { covers, parseTemplate, splitPath, type PathTemplate } from './path-template';

const t = (s: string) => parseTemplate(s) as PathTemplate;

describe('path templates', () => {
  it.each([
    ['/api/rooms', '/api/rooms', true],
    ['/api/rooms', '/api/rooms/', false],
    ['/api/rooms/:id', '/api/rooms/7', true],
    ['/api/rooms/:id', '/api/rooms/', false],
    ['/api/rooms/:id', '/api/rooms/7/messages', false],
    ['/api/rooms/:id/messages', '/api/rooms/7/messages', true],
    ['/api/*', '/api', true],
    ['/api/*', '/api/rooms/7/messages', true],
    ['/api/*', '/apix', false],
    ['/', '/', true],
    ['/*', '/anything/at/all', true],
  ])('%s against %s is %s', (template, path, expected) => {
    expect(t(template).matches(splitPath(path))).toBe(expected);
  });

  it('refuses malformed templates', () => {
    expect(parseTemplate('/a/*/b')).toBe('* may only be the last segment');
    expect(parseTemplate('/a/:1x')).toBe('segment ":1x" is not a valid :param');
    expect(parseTemplate('/a/b*')).toBe('segment "b*" mixes text with * or :');
  });

  it('knows when one template covers another', () => {
    expect(covers(t('/api/*'), t('/api/rooms/:id'))).toBe(true);
    expect(covers(t('/api/rooms/:id'), t('/api/rooms/7'))).toBe(true);
    expect(covers(t('/api/rooms/7'), t('/api/rooms/:id'))).toBe(false);
    expect(covers(t('/api/rooms/:id'), t('/api/rooms/:id/messages'))).toBe(false);
    expect(covers(t('/api/rooms/:id'), t('/api/rooms/*'))).toBe(false);
  });
});

describe('route table', () => {
  const cfg = compileConfig(
    {
      admin: { tokens: [{ name: 'ops', role: 'write', token: { value: 'a-long-enough-token' } }] },
      controlStore: { url: { value: 'postgres://x@127.0.0.1/x' } },
      tenants: { acme: { monolith: 'http://127.0.0.1:1', hosts: ['acme.localhost'] } },
      services: { messaging: { url: 'http://127.0.0.1:2' } },
      routes: [
        { id: 'beta-header', match: { path: '/api/rooms', header: { name: 'X-Beta', value: '1' } }, service: 'messaging' },
        { id: 'rooms-get', match: { method: 'GET', path: '/api/rooms' }, service: 'messaging' },
        { id: 'rooms-any', match: { path: '/api/rooms' } },
        { id: 'admin-host', match: { path: '/*', host: 'admin.localhost' } },
      ],
    },
    'test',
  );
  const m = (method: string, path: string, host = 'acme.localhost', headers: Record<string, string> = {}) =>
    cfg.table.match(method, path, host, headers)?.id ?? null;

  it('takes the first match, by method, path, host and header', () => {
    expect(m('GET', '/api/rooms')).toBe('rooms-get');
    expect(m('POST', '/api/rooms')).toBe('rooms-any');
    expect(m('GET', '/api/rooms', 'acme.localhost', { 'x-beta': '1' })).toBe('beta-header');
    expect(m('GET', '/x', 'admin.localhost')).toBe('admin-host');
    expect(m('GET', '/api/users')).toBeNull();
  });

  it('is frozen', () => {
    expect(Object.isFrozen(cfg.table)).toBe(true);
    expect(Object.isFrozen(cfg.table.routes)).toBe(true);
    expect(Object.isFrozen(cfg.table.routes[0])).toBe(true);
  });
});

describe('canary split', () => {
  it('sends about the configured share, sticky per key', () => {
    let inside = 0;
    for (let i = 0; i < 20000; i++) if (inCanary('r', `user-${i}`, 10)) inside++;
    expect(inside / 20000).toBeGreaterThan(0.09);
    expect(inside / 20000).toBeLessThan(0.11);
    expect(inCanary('r', 'user-42', 10)).toBe(inCanary('r', 'user-42', 10));
  });

  it('only ever moves keys towards the service as the share grows', () => {
    for (let i = 0; i < 2000; i++) {
      const key = `k${i}`;
      let was = false;
      for (const p of [0, 5, 10, 25, 50, 75, 100]) {
        const now = inCanary('r', key, p);
        expect(was && !now).toBe(false);
        was = now;
      }
    }
  });

  it('spreads differently per route, so one unlucky user is not in every canary', () => {
    expect(canaryBucket('a', 'u')).not.toBe(canaryBucket('b', 'u'));
    expect(inCanary('r', 'u', 0)).toBe(false);
    expect(inCanary('r', 'u', 100)).toBe(true);
  });
});
