import { compileConfig } from '../config/compile';
import { learnRoutes, looksLikeValue } from './learn';

const req = (method: string, path: string) => ({ method, path });

describe('routes learn', () => {
  it.each([
    ['42', true],
    ['3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70', true],
    ['01HZX3K8Q6M2V7N4P5R9S0T1W2', true],
    ['deadbeef01', true],
    ['2026-12-07', true],
    ['ana%40bank.example', true],
    ['rooms', false],
    ['search', false],
    ['v2', false],
    ['members', false],
  ])('%s is a value: %s', (segment, value) => expect(looksLikeValue(segment)).toBe(value));

  it('proposes templates with named parameters, reads apart from writes, literals before parameters', () => {
    const traffic = [
      req('GET', '/api/rooms'),
      req('POST', '/api/rooms'),
      req('GET', '/api/rooms/1'),
      req('GET', '/api/rooms/27?include=members'),
      req('PATCH', '/api/rooms/27'),
      req('DELETE', '/api/rooms/3'),
      req('GET', '/api/rooms/1/messages'),
      req('POST', '/api/rooms/9/messages'),
      req('PUT', '/api/rooms/9/members/4'),
      req('GET', '/api/messages/search?q=x'),
      req('GET', '/api/messages/3f2b6c1e-8a4d-4e0b-9c1a-2b3c4d5e6f70'),
    ];
    const routes = learnRoutes(traffic);
    expect(routes.map((r) => [r.id, r.match.method, r.match.path, r.seen])).toEqual([
      ['messages-search-read', 'GET', '/api/messages/search', 1],
      ['messages-id-read', 'GET', '/api/messages/:id', 1],
      ['rooms-roomid-members-id-write', 'PUT', '/api/rooms/:roomId/members/:id', 1],
      ['rooms-roomid-messages-read', 'GET', '/api/rooms/:roomId/messages', 1],
      ['rooms-roomid-messages-write', 'POST', '/api/rooms/:roomId/messages', 1],
      ['rooms-id-read', 'GET', '/api/rooms/:id', 2],
      ['rooms-id-write', ['DELETE', 'PATCH'], '/api/rooms/:id', 2],
      ['rooms-read', 'GET', '/api/rooms', 1],
      ['rooms-write', 'POST', '/api/rooms', 1],
    ]);
    expect(routes.find((r) => r.id === 'rooms-id-read')!.examples).toEqual(['/api/rooms/1', '/api/rooms/27']);
    // What it proposes is a valid route table for the proxy, in that order.
    const config = compileConfig(
      {
        listen: { port: 0 },
        admin: { port: 0, tokens: [{ name: 'a', role: 'write', token: { value: 'a-long-enough-token' } }] },
        controlStore: { url: { value: 'postgresql://x@127.0.0.1/x' } },
        tenants: { acme: { monolith: 'http://127.0.0.1:3000' } },
        routes: routes.map((r) => ({ id: r.id, match: r.match })),
      },
      'learned',
      {},
    );
    expect(config.table.match('GET', '/api/messages/search', 'x', {})?.id).toBe('messages-search-read');
    expect(config.table.match('GET', '/api/messages/77', 'x', {})?.id).toBe('messages-id-read');
  });

  it('takes a place where many different words follow the same prefix for a parameter (names, slugs)', () => {
    const users = ['ana', 'bo', 'cy', 'di', 'ed', 'flo', 'gus', 'hal'];
    const routes = learnRoutes([...users.map((u) => req('GET', `/users/${u}/profile`)), req('GET', '/users/me/settings')]);
    expect(routes.map((r) => r.match.path)).toEqual(['/users/me/settings', '/users/:userId/profile']);
    // Fewer than minDistinct: kept as they are.
    expect(learnRoutes(users.slice(0, 3).map((u) => req('GET', `/users/${u}/profile`))).map((r) => r.match.path)).toEqual(['/users/ana/profile', '/users/bo/profile', '/users/cy/profile']);
  });
});

describe('strangler routes learn', () => {
  it('reads a corpus and prints routes that check, with their counts and examples', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { Command } = await import('commander');
    const { registerRoutesCommands } = await import('../cli/routes');
    const YAML = (await import('yaml')).default;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'learn-'));
    const corpus = path.join(dir, 'corpus.jsonl');
    fs.writeFileSync(corpus, ['/api/rooms/1', '/api/rooms/2', '/api/rooms'].map((p) => JSON.stringify({ method: 'GET', path: p })).join('\n') + '\n');
    let out = '';
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    try {
      const program = new Command('strangler').exitOverride();
      registerRoutesCommands(program, dir);
      await program.parseAsync(['routes', 'learn', '--corpus', corpus], { from: 'user' });
    } finally {
      write.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(out).toContain(`# Proposed by \`strangler routes learn\` from 3 requests (${corpus}): every route on the monolith.`);
    expect(out).toContain('# 2 request(s), e.g. /api/rooms/1, /api/rooms/2');
    expect(YAML.parse(out)).toEqual({ routes: [{ id: 'rooms-id-read', match: { method: 'GET', path: '/api/rooms/:id' } }, { id: 'rooms-read', match: { method: 'GET', path: '/api/rooms' } }] });
  });
});
