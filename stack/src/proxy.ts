import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { databaseUrl, ensureDatabase, migrate } from '@strangler/migrations';
import { REPO_ROOT, type StackConfig } from './config';
import type { StackLayout } from './layout';
import { ManagedProcess, waitUntilHealthy } from './process';

export const CONTROL_DATABASE = 'strangler_control';
const CLI = path.join(REPO_ROOT, 'cli', 'src', 'main.ts');

export interface ProxyFiles {
  readonly dir: string;
  readonly config: string;
  readonly token: string;
}

export function proxyFiles(layout: StackLayout): ProxyFiles {
  const dir = path.join(layout.stateDir, 'proxy');
  return { dir, config: path.join(dir, 'proxy.yaml'), token: path.join(dir, 'admin-token') };
}

/** Creates and migrates the control store database; returns its URL. */
export async function prepareControlStore(serverUrl: string): Promise<{ url: string; created: boolean; applied: readonly string[] }> {
  const created = await ensureDatabase(serverUrl, CONTROL_DATABASE);
  const url = databaseUrl(serverUrl, CONTROL_DATABASE);
  const { applied } = await migrate('control', url);
  return { url, created, applied };
}

/**
 * Writes the demo's proxy config once: tenant by host (<tenant>.localhost),
 * the messaging routes declared in mode monolith except room-get, shadowed
 * for the first tenant behind a parity gate, a sampled corpus capture, an admin token in a 0600
 * file. An existing file is left alone: it is the user's to edit (flips by
 * config), and the running proxy reloads it on every save.
 */
export function writeDemoProxyConfig(
  files: ProxyFiles,
  config: StackConfig,
  monoliths: Readonly<Record<string, { readonly url: string; readonly databaseUrl: string }>>,
  controlUrl: string,
  serviceDatabaseUrl: string,
): { written: boolean } {
  fs.mkdirSync(files.dir, { recursive: true });
  if (!fs.existsSync(files.token)) fs.writeFileSync(files.token, `${crypto.randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  if (fs.existsSync(files.config)) return { written: false };
  const doc = {
    listen: { host: '127.0.0.1', port: config.ports.proxy },
    admin: { host: '127.0.0.1', port: config.ports.proxyAdmin, tokens: [{ name: 'ops', role: 'write', token: { file: files.token } }] },
    controlStore: { url: { value: controlUrl } },
    tenancy: { byHost: true },
    // Each tenant's database: noise learning reads its position and learns nothing across a commit.
    tenants: Object.fromEntries(Object.entries(monoliths).map(([t, m]) => [t, { monolith: m.url, hosts: [`${t}.localhost`], database: { value: m.databaseUrl } }])),
    // Reads of a tenant go back to the monolith while the service is more than 5 s behind that tenant's changes.
    // The service's database: a hand-over of the messaging domain records there who owns each tenant's writes.
    services: {
      messaging: {
        url: `http://127.0.0.1:${config.ports.extractedBase}`,
        health: '/healthz',
        freshness: { path: '/freshness', maxBehindMs: 5000 },
        // No dryRunHeader in the demo: the offline runner would send captured writes again. Set it (and shadow the write
        // routes with mirrorWrites) to let parity prove the service's writes before a hand-over.
        database: { value: serviceDatabaseUrl },
      },
    },
    routes: [
      // Message search stays with the monolith (first: /api/messages/:id would match it).
      { id: 'message-search', match: { method: 'GET', path: '/api/messages/search' } },
      { id: 'rooms-list', match: { method: 'GET', path: '/api/rooms' }, service: 'messaging', mode: 'monolith' },
      { id: 'room-create', match: { method: 'POST', path: '/api/rooms' }, service: 'messaging', mode: 'monolith' },
      // Shadowed for the first tenant: parity fills up, and the gate promotes the route once it holds.
      {
        id: 'room-get',
        match: { method: 'GET', path: '/api/rooms/:id' },
        service: 'messaging',
        mode: 'monolith',
        tenants: Object.keys(monoliths).length > 0 ? { [Object.keys(monoliths)[0]!]: { mode: 'shadow' } } : {},
        gate: { promote: { minSamples: 100, maxMismatchRate: 0.01, maxErrorRate: 0.01, canarySteps: [] }, rollback: { windowMs: 60000, minSamples: 20, maxMismatchRate: 0.1, maxErrorRate: 0.1 } },
      },
      { id: 'room-write', match: { method: ['PATCH', 'DELETE'], path: '/api/rooms/:id' }, service: 'messaging', mode: 'monolith' },
      { id: 'room-members', match: { method: 'GET', path: '/api/rooms/:id/members' }, service: 'messaging', mode: 'monolith' },
      { id: 'member-write', match: { method: ['PUT', 'DELETE'], path: '/api/rooms/:id/members/:userId' }, service: 'messaging', mode: 'monolith' },
      { id: 'room-messages', match: { method: 'GET', path: '/api/rooms/:id/messages' }, service: 'messaging', mode: 'monolith' },
      { id: 'message-post', match: { method: 'POST', path: '/api/rooms/:id/messages' }, service: 'messaging', mode: 'monolith' },
      { id: 'message-get', match: { method: 'GET', path: '/api/messages/:id' }, service: 'messaging', mode: 'monolith' },
      { id: 'message-write', match: { method: ['PATCH', 'DELETE'], path: '/api/messages/:id' }, service: 'messaging', mode: 'monolith' },
    ],
    // The messaging domain: its tables and every route that reads or writes them. `strangler own messaging --tenant <t> --to service`
    // hands a tenant's writes to the service (back-sync then carries them into the monolith); `--to monolith` hands them back.
    domains: {
      messaging: {
        service: 'messaging',
        tables: ['rooms', 'room_members', 'messages'],
        routes: ['rooms-list', 'room-create', 'room-get', 'room-write', 'room-members', 'member-write', 'room-messages', 'message-post', 'message-get', 'message-write'],
        fence: 'enforce',
      },
    },
    // A client that wrote through the monolith reads its write back: its reads go to the monolith until the service has applied it.
    readYourWrites: {},
    // A sampled corpus of real requests (with the monolith's answers), for `strangler parity run`.
    capture: { file: 'corpus.jsonl', sampleRate: 0.2, maxPerRoute: 500 },
    shadow: { redact: { jsonPaths: ['$.email', '$.data[*].email'] } },
    log: { level: 'info', access: true },
  };
  const header = [
    `# yaml-language-server: $schema=${path.relative(files.dir, path.join(REPO_ROOT, 'strangler-proxy', 'schema', 'proxy-config.schema.json'))}`,
    '# The demo proxy config, written once by `npm start`; edit and save to flip routes (the proxy reloads it).',
    '# Delete it to have it written again (for instance after changing ports).',
  ].join('\n');
  fs.writeFileSync(files.config, `${header}\n${YAML.stringify(doc)}`);
  return { written: true };
}

/** Runs the proxy as its own process (the way it is deployed) and waits until its admin API says ready. */
export async function startProxyProcess(layout: StackLayout, files: ProxyFiles, config: StackConfig): Promise<{ process: ManagedProcess; url: string; adminUrl: string }> {
  const child = await ManagedProcess.start('proxy', {
    command: process.execPath,
    // The config path lies inside the state folder, which is how a later start recognises an orphan.
    args: ['--import', 'tsx', CLI, 'proxy', 'serve', '--config', files.config],
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
    logFile: layout.log('proxy'),
  });
  const adminUrl = `http://127.0.0.1:${config.ports.proxyAdmin}`;
  await waitUntilHealthy(child, "the proxy's admin API", `${adminUrl}/readyz`, 30_000);
  return { process: child, url: `http://127.0.0.1:${config.ports.proxy}`, adminUrl };
}
