import { ConnectClient, registerTenantConnector, waitUntilStreaming } from '@strangler/cdc';
import { prepareTenantDatabase } from '@strangler/migrations';
import { monolithPort, type StackConfig } from './config';
import { connectUrl, startConnect } from './connect';
import { kafkaBootstrap, startKafka } from './kafka';
import { stackLayout, type StackLayout } from './layout';
import { startMonolith } from './monoliths';
import { MESSAGING_DATABASE, startMessagingService } from './messaging';
import { assertPrometheus, startObserving } from './observe';
import { notificationsPort, startCatalog, startDomainEvents } from './notifications';
import { startBackSync } from './backsync';
import { databaseUrl } from '@strangler/migrations';
import { DEMO_PROJECT_FILE, prepareControlStore, proxyFiles, startProxyProcess, writeDemoProxyConfig } from './proxy';
import { loadProject } from '@strangler/project';
import { assertPortsFree } from './ports';
import { startOwnPostgres, useExternalPostgres, type PostgresEndpoint } from './postgres';
import { ManagedProcess } from './process';
import { ensureRuntime, type Runtime } from './runtime';
import type { StackState } from './state';
import { StartLifecycle } from './lifecycle';

export interface TenantEndpoint {
  readonly tenant: string;
  readonly database: string;
  readonly databaseUrl: string;
  readonly monolithUrl?: string;
  readonly connector?: string;
}

export interface RunningStack {
  readonly config: StackConfig;
  readonly layout: StackLayout;
  readonly runtime: Runtime;
  readonly postgres: PostgresEndpoint;
  readonly kafkaBootstrap: string;
  readonly connectUrl: string;
  readonly tenants: readonly TenantEndpoint[];
  /** The extracted messaging service (when monoliths and connectors run). */
  readonly messaging?: { readonly url: string; readonly databaseUrl: string };
  /** The routing proxy in front of the monoliths (when monoliths run). */
  readonly proxy?: { readonly url: string; readonly adminUrl: string; readonly configFile: string; readonly tokenFile: string; readonly controlUrl: string };
  /** The second extracted service, fed by the messaging domain's events only. */
  readonly notifications?: { readonly url: string; readonly topics: readonly string[] };
  /** Prometheus and the cdc exporter (--observe). */
  readonly observing?: { readonly prometheusUrl: string; readonly cdcExporterUrl: string; readonly configFile: string };
  readonly processes: readonly ManagedProcess[];
  readonly readyMs: number;
  /** Stops every child, newest first (monoliths, Connect, Kafka, PostgreSQL). Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL to every child, for a synchronous exit path. */
  killNow(): void;
}

export type ProgressLine = (line: string) => void;

/**
 * Starts the whole topology and resolves once it is ready: PostgreSQL
 * accepting connections, the broker answering metadata, Connect listing the
 * Debezium plugin, each tenant migrated and served, and each tenant's
 * connector streaming. On any failure, everything already started is stopped.
 */
export interface StartOptions {
  /**
   * Aborted (Ctrl-C during start-up): the start stops where it has got to,
   * everything already started is stopped, what comes up after is stopped
   * at once, nothing more is said ready, and startStack rejects with
   * STR_ERR_STACK_INTERRUPTED.
   */
  readonly signal?: AbortSignal;
}

export async function startStack(config: StackConfig, progress: ProgressLine = () => {}, options: StartOptions = {}): Promise<RunningStack> {
  const layout = stackLayout(config);
  const endpoints: { -readonly [K in keyof StackState['endpoints']]: StackState['endpoints'][K] } = {
    postgresAdminUrl: '',
    kafkaBootstrap: kafkaBootstrap(config),
    connectUrl: connectUrl(config),
    monoliths: {},
  };
  const life = new StartLifecycle(layout, endpoints, progress, options.signal);
  const say = (step: string, text: string) => life.say(step, text);
  const track = (p: ManagedProcess) => life.track(p);
  const stop = () => life.stop();
  await life.prepare(config.cacheDir);

  const ports = [
    { port: config.ports.kafka, what: 'Kafka broker', env: 'STRANGLER_KAFKA_PORT' },
    { port: config.ports.kafkaController, what: 'Kafka controller', env: 'STRANGLER_KAFKA_CONTROLLER_PORT' },
    { port: config.ports.connect, what: 'Kafka Connect REST', env: 'STRANGLER_CONNECT_PORT' },
    ...(config.postgres.url ? [] : [{ port: config.ports.postgres, what: 'PostgreSQL', env: 'STRANGLER_PG_PORT' }]),
    ...(config.monoliths
      ? [
          ...config.tenants.map((t) => ({ port: monolithPort(config, t), what: `monolith ${t}`, env: 'STRANGLER_MONOLITH_PORT_BASE' })),
          { port: config.ports.proxy, what: 'routing proxy', env: 'STRANGLER_PROXY_PORT' },
          { port: config.ports.proxyAdmin, what: "proxy's admin API", env: 'STRANGLER_PROXY_ADMIN_PORT' },
        ]
      : []),
    ...(config.monoliths && config.connectors
      ? [
          { port: config.ports.extractedBase, what: 'messaging service', env: 'STRANGLER_EXTRACTED_PORT_BASE' },
          { port: notificationsPort(config), what: 'notifications service', env: 'STRANGLER_EXTRACTED_PORT_BASE (+1)' },
          { port: config.ports.catalog, what: 'the catalog', env: 'STRANGLER_CATALOG_PORT' },
        ]
      : []),
    ...(config.observe
      ? [
          { port: config.ports.prometheus, what: 'Prometheus', env: 'STRANGLER_PROMETHEUS_PORT' },
          { port: config.ports.kafkaJmx, what: "the broker's JMX exporter", env: 'STRANGLER_KAFKA_JMX_PORT' },
          { port: config.ports.connectJmx, what: "Connect's JMX exporter", env: 'STRANGLER_CONNECT_JMX_PORT' },
          { port: config.ports.cdcExporter, what: 'the cdc exporter', env: 'STRANGLER_CDC_EXPORTER_PORT' },
        ]
      : []),
  ];
  await assertPortsFree(ports);
  // --observe without Prometheus: said before anything starts.
  if (config.observe) assertPrometheus();

  return life.run(async (): Promise<RunningStack> => {
    const runtimeP = ensureRuntime(layout, config.cacheDir).then((rt) => {
      say('runtime', rt.resolved ? `resolved from Maven Central into ${config.cacheDir}` : `cached in ${config.cacheDir}`);
      if (!rt.transforms.ok) say('transforms', rt.transforms.reason);
      say('', `Kafka ${rt.versions.kafka}, Debezium ${rt.versions.debezium}, Java ${rt.javaVersion}`);
      return rt;
    });
    const postgresP = (async () => {
      if (config.postgres.url) {
        const endpoint = await useExternalPostgres(config.postgres.url, config.tenants.length);
        say('postgres', `using the existing server at ${endpoint.host}:${endpoint.port} (PostgreSQL ${endpoint.version}, wal_level=logical)`);
        return endpoint;
      }
      const { endpoint, process } = await startOwnPostgres(config, layout);
      track(process);
      say('postgres', `ready on 127.0.0.1:${endpoint.port} (own instance, PostgreSQL ${endpoint.version}, wal_level=logical)`);
      return endpoint;
    })();
    // Tenants are migrated while the JVMs boot.
    const tenantsP = postgresP.then(async (pg) => {
      endpoints.postgresAdminUrl = pg.adminUrl;
      return Promise.all(
        config.tenants.map(async (tenant): Promise<TenantEndpoint> => {
          const { database, url, created, applied } = await prepareTenantDatabase(pg.adminUrl, tenant);
          say(`tenant ${tenant}`, `database ${database} ${created ? 'created' : 'exists'}, ${applied.length ? `migrated (${applied.join(', ')})` : 'schema up to date'}`);
          return { tenant, database, databaseUrl: url };
        }),
      );
    });
    const controlP = config.monoliths
      ? postgresP.then(async (pg) => {
          const control = await prepareControlStore(pg.adminUrl);
          say('control store', `database strangler_control ${control.created ? 'created' : 'exists'}, ${control.applied.length ? `migrated (${control.applied.join(', ')})` : 'schema up to date'}`);
          return control;
        })
      : null;
    // Awaited below, where a failure stops the stack; marked handled now, so that one failing while another step
    // is awaited (Kafka booting, or after a Ctrl-C stopped PostgreSQL under them) is not an unhandled rejection.
    for (const p of [postgresP, tenantsP, controlP]) p?.catch(() => {});
    const runtime = await runtimeP;
    const kafka = await startKafka(config, layout, runtime).then((k) => {
    track(k.process);
    say('kafka', `ready on ${k.bootstrap} (KRaft, broker+controller, cluster ${k.clusterId})`);
    return k;
    });
    const connectP = startConnect(config, layout, runtime).then((c) => {
    track(c.process);
    say('connect', `ready on ${c.url} (Debezium PostgreSQL plugin listed)`);
    return c;
    });
    connectP.catch(() => {}); // awaited below (see above)
    let tenants = await tenantsP;
    const postgres = await postgresP;
    if (config.monoliths) {
    tenants = await Promise.all(
      tenants.map(async (t) => {
        const m = await startMonolith(layout, t.tenant, monolithPort(config, t.tenant), t.databaseUrl);
        track(m.process);
        say(`monolith ${t.tenant}`, `serving ${m.url}`);
        return { ...t, monolithUrl: m.url };
      }),
    );
    }
    let proxy: RunningStack['proxy'];
    if (config.monoliths && controlP) {
    const control = await controlP;
    const files = proxyFiles(layout);
    const monoliths = Object.fromEntries(tenants.map((t) => [t.tenant, { url: t.monolithUrl!, databaseUrl: t.databaseUrl }]));
    const { written } = writeDemoProxyConfig(files, config, monoliths, control.url, databaseUrl(postgres.adminUrl, MESSAGING_DATABASE));
    const p = await startProxyProcess(layout, files, config);
    track(p.process);
    say('proxy', `serving ${p.url} (tenant by host), admin ${p.adminUrl}, config ${written ? 'written to' : 'kept at'} ${files.config}`);
    proxy = { url: p.url, adminUrl: p.adminUrl, configFile: files.config, tokenFile: files.token, controlUrl: control.url };
    }
    const connect = await connectP;
    if (config.connectors) {
    const client = new ConnectClient(connect.url);
    // What the demo's project file captures.
    const demoTables = loadProject(DEMO_PROJECT_FILE).project.capture.tables;
    tenants = await Promise.all(
      tenants.map(async (t) => {
        const result = await registerTenantConnector(client, {
          tenant: t.tenant,
          host: postgres.host,
          port: postgres.port,
          database: t.database,
          user: new URL(postgres.adminUrl).username || 'postgres',
          password: decodeURIComponent(new URL(postgres.adminUrl).password),
          tables: demoTables,
        });
        await waitUntilStreaming(client, t.tenant, t.databaseUrl);
        say(`connector ${t.tenant}`, `${result.name} ${result.action}, streaming to topics ${t.tenant}.public.*`);
        return { ...t, connector: result.name };
      }),
    );
    }
    let messaging: RunningStack['messaging'];
    let notifications: RunningStack['notifications'];
    if (config.monoliths && config.connectors) {
    const m = await startMessagingService(layout, config, postgres.adminUrl, kafka.bootstrap, tenants[0]!.databaseUrl);
    track(m.process);
    say('messaging', `serving ${m.url} (extracted: rooms and messages reads of every tenant, db ${new URL(m.databaseUrl).pathname.slice(1)})`);
    messaging = { url: m.url, databaseUrl: m.databaseUrl };
    const b = await startBackSync(layout, m.databaseUrl, Object.fromEntries(tenants.map((t) => [t.tenant, t.databaseUrl])), kafka.bootstrap, connect.url);
    track(b.process);
    say('backsync', "carrying the messaging service's writes back into the monolith of each tenant whose domain it owns (none until `strangler own messaging --tenant <t> --to service`)");
    const n = await startDomainEvents(layout, config, postgres.adminUrl, m.databaseUrl, kafka.bootstrap, connect.url);
    track(n.process);
    say('notifications', `serving ${n.url}/notifications: the messaging domain's events (${n.topics.join(', ')}, published by connector ${n.connector} from its outbox), never its tables`);
    notifications = { url: n.url, topics: n.topics };
    const c = await startCatalog(layout, config, kafka.bootstrap);
    track(c.process);
    say('catalog', `serving ${c.url}/catalog (every stream, its owner, producer and consumers with their lag; the dashboard's Streams page)`);
    }
    let observing: RunningStack['observing'];
    if (config.observe) {
    const o = await startObserving(layout, config, {
      proxies: proxy ? [{ adminUrl: proxy.adminUrl, tokenFile: proxy.tokenFile }] : [],
      services: messaging ? [{ name: 'messaging', url: messaging.url }] : [],
      connectUrl: connect.url,
      kafkaBootstrap: kafka.bootstrap,
      connectLog: layout.log('connect'),
      jmx: { broker: true, connect: true },
    });
    o.processes.forEach(track);
    say('prometheus', `${o.prometheusUrl} (alerts ${o.prometheusUrl}/alerts), scraping the proxy, the services, the cdc exporter ${o.cdcExporterUrl} and the JMX agents of the broker and Connect; rules from observability/rules`);
    observing = { prometheusUrl: o.prometheusUrl, cdcExporterUrl: o.cdcExporterUrl, configFile: o.configFile };
    }
    endpoints.monoliths = Object.fromEntries(
    tenants.filter((t) => t.monolithUrl).map((t) => [t.tenant, { url: t.monolithUrl!, databaseUrl: t.databaseUrl }]),
    );
    const readyMs = life.elapsedMs;
    life.ready();
    return {
    config,
    layout,
    runtime,
    postgres,
    kafkaBootstrap: kafka.bootstrap,
    connectUrl: connect.url,
    tenants,
    ...(proxy ? { proxy } : {}),
    ...(messaging ? { messaging } : {}),
    ...(observing ? { observing } : {}),
    ...(notifications ? { notifications } : {}),
    processes: life.started,
    readyMs,
    stop,
    killNow: () => life.started.forEach((p) => p.killNow()),
    };
  });
}

/** The summary `npm start` prints once ready. */
export function formatSummary(stack: RunningStack): string {
  const rows: [string, string][] = [
    ['PostgreSQL', `${stack.postgres.adminUrl}${stack.postgres.own ? ' (own instance)' : ' (existing server)'}`],
    ['Kafka', `${stack.kafkaBootstrap} (Kafka ${stack.runtime.versions.kafka}, KRaft)`],
    ['Kafka Connect', `${stack.connectUrl} (Debezium ${stack.runtime.versions.debezium})`],
    ...stack.tenants.flatMap((t): [string, string][] => [
      [`tenant ${t.tenant}`, `${t.monolithUrl ?? '(no monolith)'}  db ${t.databaseUrl}`],
      ...(t.connector ? ([[``, `connector ${t.connector} -> topics ${t.tenant}.public.{users,rooms,room_members,messages}`]] as [string, string][]) : []),
    ]),
    ...(stack.proxy
      ? ([
          ['proxy', `${stack.proxy.url.replace('127.0.0.1', '<tenant>.localhost')}  e.g. curl http://acme.localhost:${new URL(stack.proxy.url).port}/api/rooms`],
          ['', `config ${stack.proxy.configFile} (edit and save to flip; reloads within a second)`],
          ['proxy admin', `${stack.proxy.adminUrl}  token in ${stack.proxy.tokenFile}`],
          ['', `dashboard ${stack.proxy.adminUrl}/dashboard (paste the token)`],
          ['', 'npm run strangler -- routes list | set <route> <mode> --reason "..." | rollback <route> | history <route>'],
          ['parity', 'npm run traffic (demo traffic; room-get is shadowed for the first tenant behind a gate), then npm run strangler -- parity status | parity run --corpus ...'],
          ['control store', stack.proxy.controlUrl],
        ] as [string, string][])
      : []),
    ...(stack.observing
      ? ([
          ['prometheus', `${stack.observing.prometheusUrl}  alerts ${stack.observing.prometheusUrl}/alerts  config ${stack.observing.configFile}`],
          ['', `rules observability/rules/strangler.rules.yml; Grafana: import observability/grafana/strangler-migration.json`],
          ['cdc exporter', `${stack.observing.cdcExporterUrl}/metrics; JMX exporter: broker 127.0.0.1:${stack.config.ports.kafkaJmx}, Connect 127.0.0.1:${stack.config.ports.connectJmx}`],
        ] as [string, string][])
      : []),
    ...(stack.notifications ? ([['notifications', `${stack.notifications.url}/notifications (reads only the events on ${stack.notifications.topics.join(', ')})`]] as [string, string][]) : []),
    ...(stack.messaging ? ([['messaging', `${stack.messaging.url} (extracted service; flip its routes to it with the CLI)  db ${stack.messaging.databaseUrl}`]] as [string, string][]) : []),
    ['logs', stack.layout.logsDir],
    ...stack.processes.map((p): [string, string] => [``, `${p.name.padEnd(16)} pid ${String(p.pid).padEnd(8)} ${p.logFile}`]),
    ['state folder', stack.layout.stateDir],
    ...(stack.postgres.own && !stack.layout.postgresDir.startsWith(stack.layout.stateDir)
      ? ([['postgres data', `${stack.layout.postgresData} (outside the state folder: the PostgreSQL user cannot reach it)`]] as [string, string][])
      : []),
    ['jar cache', stack.config.cacheDir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
