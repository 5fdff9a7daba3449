import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_PORTS, DEFAULT_TENANTS, REPO_ROOT, brokerProperties, loadStackConfig, pomVersions, stackLayout, writeDemoProxyConfig } from '@strangler/stack';
import { compileConfigText } from '../strangler-proxy/src';

/** docker-compose.yml cannot run here (no Docker engine); this keeps it in step with stack/, which does. */
describe('docker-compose.yml agrees with the stack', () => {
  const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { image?: string; build?: string; command?: string[] | string; environment?: Record<string, string | number>; ports?: string[] }>;
  };
  const s = compose.services;
  const versions = pomVersions();

  it('has the whole topology, and the observe profile', () => {
    expect(Object.keys(s).sort()).toEqual(
      ['backsync', 'cdc-exporter', 'connect', 'connectors', 'jmx-agent', 'kafka', 'messaging', 'migrate', 'migrate-services', 'postgres', 'prometheus', 'proxy', ...DEFAULT_TENANTS.map((t) => `monolith-${t}`)].sort(),
    );
    const observe = Object.entries(s).filter(([, x]) => ((x as { profiles?: string[] }).profiles ?? []).includes('observe')).map(([k]) => k).sort();
    expect(observe).toEqual(['cdc-exporter', 'jmx-agent', 'prometheus']);
  });

  it('observes as the stack does: the same jobs, the shipped rules, the agent version the POM pins, the JMX ports', () => {
    const prom = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker', 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
    expect(prom.scrape_configs.map((j) => j.job_name).sort()).toEqual(['kafka-broker', 'kafka-connect', 'strangler-cdc', 'strangler-proxy', 'strangler-service']);
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/strangler.rules.yml']);
    const jobs = Object.fromEntries(prom.scrape_configs.map((j) => [j.job_name, j.static_configs[0]!.targets[0]]));
    expect(jobs).toMatchObject({ 'kafka-broker': `kafka:${DEFAULT_PORTS.kafkaJmx}`, 'kafka-connect': `connect:${DEFAULT_PORTS.connectJmx}`, 'strangler-cdc': `cdc-exporter:${DEFAULT_PORTS.cdcExporter}`, 'strangler-proxy': `proxy:${DEFAULT_PORTS.proxyAdmin}` });
    expect(s.prometheus!.ports).toEqual([`${DEFAULT_PORTS.prometheus}:${DEFAULT_PORTS.prometheus}`]);
    const pom = fs.readFileSync(path.join(REPO_ROOT, 'stack', 'maven', 'pom.xml'), 'utf8');
    const agent = /<jmx.exporter.version>([^<]+)</.exec(pom)![1];
    expect(s['jmx-agent']!.command).toEqual(expect.arrayContaining([`-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:${agent}`]));
    const env = fs.readFileSync(path.join(REPO_ROOT, 'docker', 'observe.env'), 'utf8');
    expect(env).toContain(`=${DEFAULT_PORTS.kafkaJmx}:/observability/jmx/kafka-broker.yml`);
    expect(env).toContain(`=${DEFAULT_PORTS.connectJmx}:/observability/jmx/kafka-connect.yml`);
  });

  it('runs PostgreSQL with logical decoding on the stack port', () => {
    expect(s.postgres!.image).toBe('postgres:15');
    expect(s.postgres!.command).toEqual(expect.arrayContaining(['wal_level=logical', `port=${DEFAULT_PORTS.postgres}`]));
    expect(s.postgres!.ports).toEqual([`${DEFAULT_PORTS.postgres}:${DEFAULT_PORTS.postgres}`]);
  });

  it('runs the official Kafka image of the pinned version in KRaft combined mode, configured as the stack configures it', () => {
    const env = s.kafka!.environment!;
    expect(s.kafka!.image).toBe(`apache/kafka:${versions.kafka}`);
    expect(s.kafka!.ports).toEqual([`${DEFAULT_PORTS.kafka}:${DEFAULT_PORTS.kafka}`]);
    const broker = brokerProperties(loadStackConfig({}, {}), stackLayout(loadStackConfig({}, {})));
    expect(env.KAFKA_PROCESS_ROLES).toBe(broker['process.roles']);
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(`1@kafka:${DEFAULT_PORTS.kafkaController}`);
    expect(env.KAFKA_LISTENERS).toBe(`PLAINTEXT://0.0.0.0:${DEFAULT_PORTS.kafka},CONTROLLER://0.0.0.0:${DEFAULT_PORTS.kafkaController}`);
    for (const key of ['offsets.topic.replication.factor', 'transaction.state.log.replication.factor', 'transaction.state.log.min.isr', 'group.initial.rebalance.delay.ms', 'log.retention.hours']) {
      expect([key, env[`KAFKA_${key.toUpperCase().replace(/\./g, '_')}`]]).toEqual([key, broker[key]]);
    }
  });

  it('runs the Debezium Connect image of the pinned Debezium line on the stack port', () => {
    expect(s.connect!.image).toBe(`quay.io/debezium/connect:${versions.debezium}`);
    expect(s.connect!.ports).toEqual([`${DEFAULT_PORTS.connect}:${DEFAULT_PORTS.connect}`]);
    expect(s.connect!.environment!.BOOTSTRAP_SERVERS).toBe(`kafka:${DEFAULT_PORTS.kafka}`);
    expect(s.connect!.environment!.GROUP_ID).toBe('strangler-connect');
  });

  it("builds an image that installs every workspace (npm ci needs each one's package.json)", () => {
    const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const workspaces = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
    for (const w of workspaces) expect([w, dockerfile.includes(`COPY ${w}/package.json ${w}/`)]).toEqual([w, true]);
  });

  it('runs one monolith per tenant on its own database and port, built from the Dockerfile', () => {
    expect(fs.existsSync(path.join(REPO_ROOT, 'Dockerfile'))).toBe(true);
    DEFAULT_TENANTS.forEach((tenant, i) => {
      const m = s[`monolith-${tenant}`]!;
      const port = DEFAULT_PORTS.monolithBase + i;
      expect(m.build).toBe('.');
      expect(m.environment).toMatchObject({ TENANT: tenant, PORT: port, DATABASE_URL: `postgresql://postgres@postgres:${DEFAULT_PORTS.postgres}/monolith_${tenant}` });
      expect(m.ports).toEqual([`${port}:${port}`]);
    });
    expect(s.migrate!.command).toEqual(expect.arrayContaining(['tenants', '--tenants', DEFAULT_TENANTS.join(',')]));
  });

  it('runs the extracted messaging service on the stack port, fed from every tenant, on its own migrated database', () => {
    const m = s.messaging!;
    expect(m.command).toEqual(['node', '--import', 'tsx', 'extracted/messaging/src/server.ts']);
    expect(m.environment).toMatchObject({ PORT: DEFAULT_PORTS.extractedBase, TENANTS: DEFAULT_TENANTS.join(','), KAFKA_BROKERS: `kafka:${DEFAULT_PORTS.kafka}` });
    expect(m.ports).toEqual([`${DEFAULT_PORTS.extractedBase}:${DEFAULT_PORTS.extractedBase}`]);
    const migrateServices = String(s['migrate-services']!.command);
    expect(migrateServices).toContain(`latest control --create --database-url postgresql://postgres@postgres:${DEFAULT_PORTS.postgres}/strangler_control`);
    expect(migrateServices).toContain(`latest extracted --create --database-url ${String(m.environment!.DATABASE_URL)}`);
  });

  it("runs the proxy with docker/proxy.yaml, a config that compiles, on the stack's ports, with the demo's routes, in front of every monolith and the service", () => {
    const p = s.proxy!;
    expect(p.ports).toEqual([`${DEFAULT_PORTS.proxy}:${DEFAULT_PORTS.proxy}`, `${DEFAULT_PORTS.proxyAdmin}:${DEFAULT_PORTS.proxyAdmin}`]);
    const command = p.command as string[];
    const file = command[command.indexOf('--config') + 1]!;
    const env = { STRANGLER_ADMIN_TOKEN: 'a-token-for-the-compose-test', STRANGLER_CONTROL_URL: String(p.environment!.STRANGLER_CONTROL_URL) };
    const compiled = compileConfigText(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'), file, env).config;
    expect([compiled.listen.port, compiled.admin.port]).toEqual([DEFAULT_PORTS.proxy, DEFAULT_PORTS.proxyAdmin]);
    DEFAULT_TENANTS.forEach((tenant, i) => expect(compiled.tenants[tenant]!.monolith).toBe(`http://monolith-${tenant}:${DEFAULT_PORTS.monolithBase + i}`));
    expect(compiled.services.messaging!.url).toBe(`http://messaging:${DEFAULT_PORTS.extractedBase}`);
    // The same routes as the demo config npm start writes (there, one is shadowed for the first tenant behind a gate).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-compose-'));
    try {
      const files = { dir, config: path.join(dir, 'proxy.yaml'), token: path.join(dir, 'token') };
      writeDemoProxyConfig(files, loadStackConfig({}, {}), Object.fromEntries(DEFAULT_TENANTS.map((t) => [t, { url: `http://127.0.0.1:1`, databaseUrl: `postgresql://x/monolith_${t}` }])), 'postgresql://x/y', 'postgresql://x/extracted_messaging');
      const demo = parse(fs.readFileSync(files.config, 'utf8')) as { routes: Array<{ id: string; match: unknown }> };
      expect(compiled.routes.map((r) => [r.id, r.match])).toEqual(demo.routes.map((r) => [r.id, r.match]));
      // Read-your-writes on in both, with the same settings.
      expect(compiled.readYourWrites).toEqual(compileConfigText(fs.readFileSync(files.config, 'utf8'), files.config, env).config.readYourWrites);
      expect(compiled.readYourWrites).toEqual({ cookie: 'strangler-written', windowMs: 30000, clockSkewMs: 100, backSyncWaitMs: 3000 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
