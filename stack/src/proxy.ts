import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { databaseUrl, ensureDatabase, migrate } from '@strangler/migrations';
import { loadProject, proxyConfigOf, type LoadedProject } from '@strangler/project';
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

/** The demo as a project file (checked in): its captured tables, the messaging service's proxy settings, its routes, domain and proxy settings. */
export const DEMO_PROJECT_FILE = path.join(REPO_ROOT, 'stack', 'demo', 'strangler.yaml');

/**
 * The demo's project file with what this stack runs put in: the tenants of
 * its config on the URLs and databases it gave them, the messaging service
 * on its port and database. The file's tenants stand for the stack's in
 * order: a route's setting for acme (the first) is for the first tenant the
 * stack runs; one for a tenant past the stack's last is left out.
 */
export function demoProject(
  config: StackConfig,
  monoliths: Readonly<Record<string, { readonly url: string; readonly databaseUrl: string }>>,
  serviceDatabaseUrl: string,
): LoadedProject {
  const demo = loadProject(DEMO_PROJECT_FILE);
  // The file's tenants stand, in order, for the ones this stack runs (acme for the first, ...).
  const declared = Object.keys(demo.project.tenants);
  const running = Object.keys(monoliths);
  const runningAs = (t: string): string | undefined => running[declared.indexOf(t)];
  const messaging = demo.project.services.messaging!;
  return {
    ...demo,
    project: {
      ...demo.project,
      tenants: Object.fromEntries(Object.entries(monoliths).map(([t, m]) => [t, { monolith: m.url, hosts: [`${t}.localhost`], database: { value: m.databaseUrl } }])),
      services: { ...demo.project.services, messaging: { ...messaging, url: `http://127.0.0.1:${config.ports.extractedBase}` } },
    },
    databases: Object.fromEntries(Object.entries(monoliths).map(([t, m]) => [t, m.databaseUrl])),
    serviceDatabases: { ...demo.serviceDatabases, messaging: serviceDatabaseUrl },
    routes: demo.routes.map((r) => {
      const route = r as { tenants?: Record<string, unknown> };
      return route.tenants ? { ...route, tenants: Object.fromEntries(Object.entries(route.tenants).flatMap(([t, v]) => (runningAs(t) === undefined ? [] : [[runningAs(t)!, v]]))) } : r;
    }),
  };
}

/**
 * Writes the demo's proxy config once, from the demo's project file
 * (stack/demo/strangler.yaml) and what this stack runs: tenant by host
 * (<tenant>.localhost), the messaging routes in mode monolith except
 * room-get, shadowed for acme behind a parity gate, a sampled corpus
 * capture, an admin token in a 0600 file. An existing file is left alone:
 * it is the user's to edit (flips by config), and the running proxy reloads
 * it on every save.
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
  const doc = proxyConfigOf(demoProject(config, monoliths, serviceDatabaseUrl), { controlStoreUrl: controlUrl, adminToken: 'replaced below', port: config.ports.proxy, adminPort: config.ports.proxyAdmin });
  doc.admin.tokens = [{ name: 'ops', role: 'write', token: { file: files.token } }];
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
