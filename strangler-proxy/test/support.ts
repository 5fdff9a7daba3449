import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import { migrate } from '@strangler/migrations';
import { scratchDatabase, scratchDir } from '../../e2e/support/env';

export { eventually, scratchDir } from '../../e2e/support/env';
import type { ProxyConfigInput } from '../src/config/schema';
import { ProxyRuntime, type ProxyOptions } from '../src/server/runtime';

export const WRITE_TOKEN = 'test-write-token-0123456789';
export const READ_TOKEN = 'test-read-token-0123456789';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** A real HTTP upstream on port 0 that records what reached it. */
export interface Upstream {
  readonly name: string;
  readonly url: string;
  readonly requests: Recorded[];
  handler: Handler;
  close(): Promise<void>;
}

export const echo =
  (name: string): Handler =>
  (req, res, body) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ from: name, method: req.method, url: req.url, bytes: body.length, tenant: req.headers['x-strangler-tenant'] ?? null }));
  };

export async function startUpstream(name: string, handler: Handler = echo(name)): Promise<Upstream> {
  const requests: Recorded[] = [];
  const up: Upstream = {
    name,
    url: '',
    requests,
    handler,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      up.handler(req, res, body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  (up as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return up;
}

/** A fresh control store database, migrated. */
export async function controlStore(): Promise<{ url: string; drop: () => Promise<void> }> {
  const db = await scratchDatabase('ctl');
  await migrate('control', db.url);
  return db;
}

export function baseConfig(controlUrl: string, tenants: Record<string, string>, extra: Partial<ProxyConfigInput> = {}): ProxyConfigInput {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    admin: {
      host: '127.0.0.1',
      port: 0,
      tokens: [
        { name: 'ops', role: 'write', token: { value: WRITE_TOKEN } },
        { name: 'viewer', role: 'read', token: { value: READ_TOKEN } },
      ],
    },
    controlStore: { url: { value: controlUrl }, pollMs: 200 },
    tenants: Object.fromEntries(Object.entries(tenants).map(([t, url]) => [t, { monolith: url, hosts: [`${t}.localhost`] }])),
    log: { level: 'silent', access: false },
    ...extra,
  };
}

export interface TestProxy {
  readonly rt: ProxyRuntime;
  readonly file: string;
  readonly url: string;
  readonly admin: string;
  write(config: ProxyConfigInput | string): void;
  stop(): Promise<void>;
}

export async function startProxy(config: ProxyConfigInput, options: Partial<ProxyOptions> & { file?: string } = {}): Promise<TestProxy> {
  const file = options.file ?? path.join(scratchDir('proxy'), 'proxy.yaml');
  const write = (c: ProxyConfigInput | string) => {
    // Write then rename, as editors do: the watcher must never see half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, typeof c === 'string' ? c : YAML.stringify(c));
    fs.renameSync(tmp, file);
  };
  if (!options.file) write(config);
  const rt = await ProxyRuntime.start({ configFile: file, port: 0, adminPort: 0, logger: pino({ level: 'silent' }), filePollMs: 200, ...options });
  return { rt, file, url: rt.url, admin: rt.adminUrl, write, stop: () => rt.stop(2000) };
}

/** One keep-alive client for the tests (it may set Host, which fetch may not). */
export const client = new Agent({ connections: 64, keepAliveTimeout: 10_000 });

export async function get(url: string, host: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
  const res = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { host, ...(init.headers ?? {}) },
    body: init.body ?? null,
    dispatcher: client,
  });
  const text = await res.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

export async function admin(p: TestProxy | string, method: string, route: string, body?: unknown, token = WRITE_TOKEN) {
  const base = typeof p === 'string' ? p : p.admin;
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = res.headers.get('content-type')?.includes('json') && text ? JSON.parse(text) : null;
  return { status: res.status, json, text, headers: res.headers };
}
