import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { admin, baseConfig, controlStore, startProxy, type TestProxy } from './support';

/** An upstream that accepts upgrades to "echo" and answers every chunk with its name in front; it records the upgrade requests. */
async function echoUpstream(name: string) {
  const seen: http.IncomingHttpHeaders[] = [];
  const upgraded = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.end('no upgrade asked'));
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push(req.headers);
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    if (head.length > 0) socket.write(`${name}:${head.toString()}`);
    socket.on('data', (c: Buffer) => socket.write(`${name}:${c.toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
      for (const s of upgraded) s.destroy(); // upgraded sockets are not the HTTP server's to close
    });
  return { name, url, seen, close };
}

/** Sends an upgrade request over a raw socket; resolves with the socket and the answer's head once the blank line arrives. */
async function upgrade(proxyUrl: string, host: string, path: string, extra = ''): Promise<{ socket: net.Socket; head: string; rest: string }> {
  const { port } = new URL(proxyUrl);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: echo\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  let got = '';
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      got += c.toString();
      const end = got.indexOf('\r\n\r\n');
      if (end >= 0) {
        socket.off('data', onData);
        resolve({ socket, head: got.slice(0, end), rest: got.slice(end + 4) });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed before an answer: ${JSON.stringify(got)}`)));
  });
}

function reply(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (c: Buffer) => {
      got += c.toString();
      if (got.endsWith(text)) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.write(text);
  });
}

describe('protocol upgrades (WebSocket) through the proxy', () => {
  let acme: Awaited<ReturnType<typeof echoUpstream>>;
  let globex: Awaited<ReturnType<typeof echoUpstream>>;
  let service: Awaited<ReturnType<typeof echoUpstream>>;
  let store: { url: string; drop: () => Promise<void> };
  let proxy: TestProxy;
  let deadUrl: string;
  const sockets: net.Socket[] = [];
  let stopped = false;

  beforeAll(async () => {
    const dead = await echoUpstream('dead');
    deadUrl = dead.url;
    await dead.close(); // nothing listens there: connection refused
    [acme, globex, service, store] = await Promise.all([echoUpstream('acme'), echoUpstream('globex'), echoUpstream('service'), controlStore()]);
    proxy = await startProxy(
      baseConfig(store.url, { acme: acme.url, globex: globex.url }, {
        services: {
          messaging: { url: service.url, timeouts: { connectMs: 300, headersMs: 300, bodyMs: 2000 } },
          dead: { url: deadUrl, timeouts: { connectMs: 300, headersMs: 300, bodyMs: 2000 } },
        },
        routes: [
          { id: 'live', match: { method: 'GET', path: '/live/:room' }, service: 'messaging', mode: 'monolith', tenants: { globex: { mode: 'extracted' } } },
          { id: 'dead-live', match: { method: 'GET', path: '/dead-live' }, service: 'dead', mode: 'extracted' },
        ],
      }),
    );
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    if (!stopped) await proxy?.stop();
    await Promise.all([acme?.close(), globex?.close(), service?.close()]);
    await store?.drop();
  });

  it('tunnels an unmatched upgrade to the tenant\'s monolith: 101 passed through, bytes both ways, forwarding headers set, a spoofed tenant header dropped', async () => {
    const { socket, head } = await upgrade(proxy.url, 'acme.localhost', '/socket?room=7', 'X-Strangler-Tenant: globex\r\n');
    sockets.push(socket);
    expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols/);
    expect(await reply(socket, 'ping')).toBe('acme:ping');
    expect(await reply(socket, 'again')).toBe('acme:again');
    const seen = acme.seen.at(-1)!;
    expect(seen.upgrade).toBe('echo');
    expect(seen.connection?.toLowerCase()).toContain('upgrade');
    expect(seen['sec-websocket-version']).toBe('13');
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.via).toMatch(/strangler/);
    expect(seen['x-strangler-tenant']).toBeUndefined();
    expect(globex.seen).toHaveLength(0);
  });

  it('follows the route and the tenant\'s mode: extracted for globex (with the tenant header), the monolith for acme', async () => {
    const g = await upgrade(proxy.url, 'globex.localhost', '/live/3');
    sockets.push(g.socket);
    expect(await reply(g.socket, 'hi')).toBe('service:hi');
    expect(service.seen.at(-1)!['x-strangler-tenant']).toBe('globex');
    const a = await upgrade(proxy.url, 'acme.localhost', '/live/3');
    sockets.push(a.socket);
    expect(await reply(a.socket, 'hi')).toBe('acme:hi');
  });

  it('falls back to the monolith when the extracted service cannot be reached (nothing was sent yet)', async () => {
    const { socket, head } = await upgrade(proxy.url, 'acme.localhost', '/dead-live');
    sockets.push(socket);
    expect(head).toMatch(/ 101 /);
    expect(await reply(socket, 'x')).toBe('acme:x');
    const metrics = (await admin(proxy, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/strangler_proxy_fallbacks_total\{route="dead-live",service="dead",reason="connect"\} 1/);
    expect(metrics).toMatch(/strangler_proxy_upgrades_total\{route="dead-live",target="monolith",outcome="tunnelled"\} 1/);
  });

  it('refuses an upgrade whose tenant cannot be resolved with a JSON 4xx, and nothing reaches an upstream', async () => {
    const before = acme.seen.length + globex.seen.length + service.seen.length;
    const { head, rest } = await upgrade(proxy.url, 'nobody.localhost', '/socket');
    expect(head).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(head.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(rest).error.code).toMatch(/^STR_ERR_PROXY_TENANT/);
    expect(acme.seen.length + globex.seen.length + service.seen.length).toBe(before);
  });

  it('closes open tunnels when the proxy stops', async () => {
    const { socket } = await upgrade(proxy.url, 'acme.localhost', '/socket');
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    stopped = true;
    await proxy.stop();
    await closed;
  });
});
