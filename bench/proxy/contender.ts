/**
 * One contender of bench/proxy, run in its own process (so it can be pinned
 * to a core): `contender.ts <kind> <upstreamUrl> [configFile]`. Prints
 * `READY <port>` once listening and serves until killed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const [kind, upstream, configFile] = process.argv.slice(2) as [string, string, string | undefined];

async function main(): Promise<void> {
  switch (kind) {
    case 'http-proxy': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const httpProxy = require('http-proxy') as typeof import('http-proxy');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
      const proxy = httpProxy.createProxyServer({ target: upstream, agent, xfwd: true });
      proxy.on('error', (_e, _req, res) => {
        (res as http.ServerResponse).writeHead?.(502);
        res.end();
      });
      const server = http.createServer((req, res) => proxy.web(req, res));
      server.keepAliveTimeout = 60_000;
      server.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port));
      return;
    }
    case 'fastify-http-proxy': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const Fastify = require('fastify') as typeof import('fastify').default;
      const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      await app.register(require('@fastify/http-proxy'), { upstream, http: undefined });
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      ready(Number(new URL(address).port));
      return;
    }
    case 'node-http': {
      // Not a proxy: a Node HTTP server answering the upstream's body itself, the floor any Node server pays.
      const { BODY } = await import('./body');
      const body = Buffer.from(BODY);
      const server = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      });
      server.keepAliveTimeout = 60_000;
      server.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port));
      return;
    }
    case 'undici-minimal': {
      // Not a product: the least a Node proxy can do (undici pool, headers passed as they are, body piped), as a floor.
      const { Pool } = await import('undici');
      const pool = new Pool(upstream, { connections: 128 });
      const server = http.createServer((req, res) => {
        pool.request({ path: req.url!, method: req.method as 'GET', headers: req.headers }).then(
          ({ statusCode, headers, body }) => {
            res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
            body.pipe(res);
          },
          () => {
            res.writeHead(502);
            res.end();
          },
        );
      });
      server.keepAliveTimeout = 60_000;
      server.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port));
      return;
    }
    case 'strangler': {
      const { ProxyRuntime } = await import('../../strangler-proxy/src');
      const pino = (await import('pino')).default;
      const rt = await ProxyRuntime.start({ configFile: configFile!, port: 0, adminPort: 0, logger: pino({ level: 'warn' }) });
      ready(Number(new URL(rt.url).port));
      return;
    }
    default:
      throw new Error(`unknown contender ${kind}`);
  }
}

function ready(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
