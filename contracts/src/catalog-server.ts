import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { buildCatalog } from './catalog';

export interface CatalogServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `strangler catalog serve`: GET /catalog answers the catalog as JSON
 * (`{ data: CatalogEntry[] }`, built at most every 2 s), GET /healthz; what
 * the proxy's dashboard shows on its Streams page (dashboard.catalogUrl).
 * Kafka not answering gives the contracts without topics, retention or lag,
 * and says why in `kafka`.
 */
export async function startCatalogServer(o: { readonly dir: string; readonly brokers: readonly string[]; readonly port: number; readonly host?: string }): Promise<CatalogServer> {
  const admin: Admin = new Kafka({ clientId: 'strangler-catalog', brokers: [...o.brokers], logLevel: logLevel.NOTHING, retry: { retries: 1 } }).admin();
  let connected: Promise<void> | null = null;
  let last: { at: number; body: Promise<string> } | null = null;
  const build = async (): Promise<string> => {
    let kafka: string | null = null;
    let usable: Admin | null = admin;
    try {
      connected ??= admin.connect().catch((err: unknown) => {
        connected = null;
        throw err;
      });
      await connected;
    } catch (err) {
      kafka = `Kafka at ${o.brokers.join(',')} did not answer: ${(err as Error).message}`;
      usable = null;
    }
    const data = await buildCatalog(o.dir, usable);
    return JSON.stringify({ at: new Date().toISOString(), kafka, data });
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string) => void res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: { code: 'STR_ERR_CONTRACTS_CATALOG_METHOD', message: 'GET /catalog or /healthz' } }));
    if (path === '/healthz') return send(200, '{"status":"ok"}');
    if (path !== '/catalog') return send(404, JSON.stringify({ error: { code: 'STR_ERR_CONTRACTS_CATALOG_NOT_FOUND', message: `no ${path}: GET /catalog or /healthz` } }));
    if (last === null || Date.now() - last.at > 2000) last = { at: Date.now(), body: build() };
    last.body.then(
      (body) => send(200, body),
      (err: Error) => {
        last = null;
        send(500, JSON.stringify({ error: { code: 'STR_ERR_CONTRACTS_FILE', message: err.message } }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.address}:${a.port}`,
    close: async () => {
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
      if (connected) await admin.disconnect().catch(() => undefined);
    },
  };
}
