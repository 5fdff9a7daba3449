import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConnectClient, registerTenantConnector, waitUntilStreaming } from '@strangler/cdc';
import { redactUrl } from '@strangler/common';
import { proxyConfigOf, type LoadedProject } from '@strangler/project';
import { assertPrometheus, startObserving } from './observe';
import { REPO_ROOT, type StackConfig } from './config';
import { connectUrl, startConnect } from './connect';
import { kafkaBootstrap, startKafka } from './kafka';
import { stackLayout } from './layout';
import { StartLifecycle } from './lifecycle';
import { freePort, assertPortsFree } from './ports';
import { startOwnPostgres } from './postgres';
import { ManagedProcess, waitUntilHealthy } from './process';
import { prepareControlStore, startProxyProcess, type ProxyFiles } from './proxy';
import { ensureRuntime } from './runtime';

const CLI = path.join(REPO_ROOT, 'cli', 'src', 'main.ts');

export interface RunningProject {
  readonly file: string;
  readonly kafkaBootstrap: string;
  readonly connectUrl: string;
  readonly controlUrl: string;
  readonly proxy: { readonly url: string; readonly adminUrl: string; readonly configFile: string; readonly tokenFile: string };
  readonly connectors: readonly string[];
  readonly mirrors: ReadonlyArray<{ readonly service: string; readonly url: string }>;
  /** Services the file says how to run (services.<s>.command). */
  readonly services: ReadonlyArray<{ readonly service: string; readonly url: string }>;
  /** Prometheus and the cdc exporter (--observe). */
  readonly observing?: { readonly prometheusUrl: string; readonly cdcExporterUrl: string; readonly configFile: string };
  readonly processes: readonly ManagedProcess[];
  readonly readyMs: number;
  stop(): Promise<void>;
  killNow(): void;
}

/**
 * `strangler up --project FILE`: what a project file needs, around the
 * team's own app and databases (never restarted nor reconfigured): Kafka and
 * Kafka Connect with Debezium (or those the file names), a PostgreSQL for
 * the toolkit's own control store only where the file names none, each
 * tenant's connector for the file's tables (the source checked first), the
 * proxy in front of the tenants' monoliths with the file's routes, and each
 * declared mirror.
 */
export async function startProjectStack(p: LoadedProject, config: StackConfig, progress: (line: string) => void = () => {}, options: { signal?: AbortSignal } = {}): Promise<RunningProject> {
  const layout = stackLayout(config);
  const infra = p.project.infrastructure;
  const kafka = infra.kafka?.bootstrap ?? kafkaBootstrap(config);
  const connect = infra.connect?.url ?? connectUrl(config);
  const life = new StartLifecycle(layout, { postgresAdminUrl: '', kafkaBootstrap: kafka, connectUrl: connect, monoliths: {} }, progress, options.signal);
  await life.prepare(config.cacheDir);
  const { listen, admin } = p.project.proxy;
  await assertPortsFree([
    ...(infra.kafka ? [] : [{ port: config.ports.kafka, what: 'Kafka broker', env: 'STRANGLER_KAFKA_PORT' }, { port: config.ports.kafkaController, what: 'Kafka controller', env: 'STRANGLER_KAFKA_CONTROLLER_PORT' }]),
    ...(infra.connect ? [] : [{ port: config.ports.connect, what: 'Kafka Connect REST', env: 'STRANGLER_CONNECT_PORT' }]),
    ...(infra.postgres ? [] : [{ port: config.ports.postgres, what: "PostgreSQL (the toolkit's own databases)", env: 'STRANGLER_PG_PORT' }]),
    ...(listen.port ? [{ port: listen.port, what: 'routing proxy', env: 'proxy.listen.port in the project file' }] : []),
    ...(config.observe
      ? [
          { port: config.ports.prometheus, what: 'Prometheus', env: 'STRANGLER_PROMETHEUS_PORT' },
          { port: config.ports.cdcExporter, what: 'the cdc exporter', env: 'STRANGLER_CDC_EXPORTER_PORT' },
          ...(infra.kafka ? [] : [{ port: config.ports.kafkaJmx, what: "the broker's JMX exporter", env: 'STRANGLER_KAFKA_JMX_PORT' }]),
          ...(infra.connect ? [] : [{ port: config.ports.connectJmx, what: "Connect's JMX exporter", env: 'STRANGLER_CONNECT_JMX_PORT' }]),
        ]
      : []),
    ...(admin.port ? [{ port: admin.port, what: "proxy's admin API", env: 'proxy.admin.port in the project file' }] : []),
  ]);

  if (config.observe) assertPrometheus();
  return life.run(async () => {
    const runtime = await ensureRuntime(layout, config.cacheDir);
    life.say('runtime', `Kafka ${runtime.versions.kafka}, Debezium ${runtime.versions.debezium}, Java ${runtime.javaVersion}`);
    if (!runtime.transforms.ok) life.say('transforms', runtime.transforms.reason);
    const controlServer = (async () => {
      if (p.toolkitPostgres !== null) return p.toolkitPostgres;
      const { endpoint, process } = await startOwnPostgres(config, layout);
      life.track(process);
      life.say('postgres', `ready on 127.0.0.1:${endpoint.port} (the toolkit's own control store; your databases are left as they are)`);
      return endpoint.adminUrl;
    })();
    controlServer.catch(() => {}); // awaited below
    if (!infra.kafka) {
      const k = await startKafka(config, layout, runtime);
      life.track(k.process);
      life.say('kafka', `ready on ${k.bootstrap}`);
    }
    if (!infra.connect) {
      const c = await startConnect(config, layout, runtime);
      life.track(c.process);
      life.say('connect', `ready on ${c.url} (Debezium PostgreSQL plugin listed)`);
    }
    const control = await prepareControlStore(await controlServer);
    life.say('control store', `${redactUrl(control.url)} ${control.created ? 'created' : 'exists'}`);

    // Each tenant's capture: its database checked first (registerTenantConnector refuses one it would fail on, with the fixes).
    const client = new ConnectClient(connect);
    const connectors: string[] = [];
    for (const [tenant, url] of Object.entries(p.databases)) {
      const u = new URL(url);
      const source = { tenant, host: u.hostname, port: Number(u.port || 5432), database: decodeURIComponent(u.pathname.slice(1)), user: decodeURIComponent(u.username || 'postgres'), ...(u.password ? { password: decodeURIComponent(u.password) } : {}), tables: p.project.capture.tables };
      const r = await registerTenantConnector(client, source);
      await waitUntilStreaming(client, tenant, url);
      connectors.push(r.name);
      life.say(`connector ${tenant}`, `${r.name} ${r.action}, streaming ${p.project.capture.tables.length} tables of ${redactUrl(url)}`);
    }

    // The proxy, in front of the team's monoliths, with the file's routes.
    const dir = path.join(layout.stateDir, 'proxy');
    fs.mkdirSync(dir, { recursive: true });
    const files: ProxyFiles = { dir, config: path.join(dir, 'project-proxy.yaml'), token: path.join(dir, 'admin-token') };
    if (!fs.existsSync(files.token)) fs.writeFileSync(files.token, crypto.randomBytes(24).toString('base64url'), { mode: 0o600 });
    const proxyPort = listen.port || (await freePort());
    const adminPort = admin.port || (await freePort());
    const proxyConfig = proxyConfigOf(p, { controlStoreUrl: control.url, adminToken: 'unused', port: proxyPort, adminPort });
    proxyConfig.admin.tokens = [{ name: 'project', role: 'write', token: { file: files.token } }];
    fs.writeFileSync(files.config, `# Written by \`strangler up --project ${p.file}\` at each start: edit the project file, not this one.\n${YAML.stringify(proxyConfig)}`, { mode: 0o600 });
    const proxy = await startProxyProcess(layout, files, { ...config, ports: { ...config.ports, proxy: proxyPort, proxyAdmin: adminPort } });
    life.track(proxy.process);
    life.say('proxy', `serving ${proxy.url} in front of ${Object.keys(p.project.tenants).length} tenant(s), ${p.routes.length} route(s)`);

    // Each service with a command (it runs its own mirror), then each declared mirror, as its own process.
    const mirrors: Array<{ service: string; url: string }> = [];
    const services: Array<{ service: string; url: string }> = [];
    for (const [service, s] of Object.entries(p.project.services)) {
      if (s.command === undefined) continue;
      const child = await ManagedProcess.start(`service-${service}`, {
        command: '/bin/sh',
        args: ['-c', s.command, `--strangler-state=${layout.stateDir}`],
        cwd: path.dirname(p.file),
        env: { ...process.env, NODE_ENV: 'production', STRANGLER_PROJECT: p.file, STRANGLER_KAFKA: kafka, PORT: new URL(s.url).port || '80' },
        logFile: layout.log(`service-${service}`),
      });
      await waitUntilHealthy(child, `service ${service} (${s.command})`, `${s.url.replace(/\/$/, '')}/healthz`, 90_000);
      life.track(child);
      services.push({ service, url: s.url });
      life.say(`service ${service}`, `serving ${s.url} (${s.command})`);
    }
    for (const [service, s] of Object.entries(p.project.services)) {
      if (s.mirrors.length === 0 || s.command !== undefined) continue;
      const port = s.mirrorPort || (await freePort());
      const child = await ManagedProcess.start(`mirror-${service}`, {
        command: process.execPath,
        args: ['--import', 'tsx', CLI, 'mirror', 'run', '--service', service, '--project', p.file, '--port', String(port), '--kafka', kafka, `--strangler-state=${layout.stateDir}`],
        cwd: REPO_ROOT,
        env: { ...process.env, NODE_ENV: 'production' },
        logFile: layout.log(`mirror-${service}`),
      });
      const url = `http://127.0.0.1:${port}`;
      await waitUntilHealthy(child, `the mirror of ${service}`, `${url}/healthz`, 60_000);
      life.track(child);
      mirrors.push({ service, url });
      life.say(`mirror ${service}`, `serving ${url} (${s.mirrors.join(', ')})`);
    }
    let observing: RunningProject['observing'];
    if (config.observe) {
      const o = await startObserving(layout, config, {
        proxies: [{ adminUrl: proxy.adminUrl, tokenFile: files.token }],
        services: [...services, ...mirrors].map((x) => ({ name: x.service, url: x.url })),
        connectUrl: connect,
        kafkaBootstrap: kafka,
        connectLog: infra.connect ? null : layout.log('connect'),
        jmx: { broker: !infra.kafka, connect: !infra.connect },
      });
      o.processes.forEach((x) => life.track(x));
      life.say('prometheus', `${o.prometheusUrl} (alerts ${o.prometheusUrl}/alerts), rules from observability/rules`);
      observing = { prometheusUrl: o.prometheusUrl, cdcExporterUrl: o.cdcExporterUrl, configFile: o.configFile };
    }
    const readyMs = life.elapsedMs;
    life.ready();
    return {
      ...(observing ? { observing } : {}),
      file: p.file,
      kafkaBootstrap: kafka,
      connectUrl: connect,
      controlUrl: control.url,
      proxy: { url: proxy.url, adminUrl: proxy.adminUrl, configFile: files.config, tokenFile: files.token },
      connectors,
      mirrors,
      services,
      processes: life.started,
      readyMs,
      stop: () => life.stop(),
      killNow: () => life.started.forEach((x) => x.killNow()),
    };
  });
}

/** What `up --project` prints once ready. */
export function formatProjectSummary(r: RunningProject): string {
  const rows: Array<[string, string]> = [
    ['project', r.file],
    ['Kafka', r.kafkaBootstrap],
    ['Kafka Connect', `${r.connectUrl} (${r.connectors.join(', ')})`],
    ['proxy', `${r.proxy.url} (admin ${r.proxy.adminUrl}, token in ${r.proxy.tokenFile})`],
    ...r.services.map((m): [string, string] => [`service ${m.service}`, `${m.url} (/freshness, /healthz; its own mirror)`]),
    ...r.mirrors.map((m): [string, string] => [`mirror ${m.service}`, `${m.url} (/freshness, /position, /metrics)`]),
    ...(r.observing ? ([['prometheus', `${r.observing.prometheusUrl} (alerts /alerts; config ${r.observing.configFile}); cdc exporter ${r.observing.cdcExporterUrl}/metrics`]] as Array<[string, string]>) : []),
  ];
  return rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`).join('\n');
}
