import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_PORTS, DEFAULT_TENANTS, REPO_ROOT, brokerProperties, loadStackConfig, pomVersions, stackLayout } from '@strangler/stack';

/** docker-compose.yml cannot run here (no Docker engine); this keeps it in step with stack/, which does. */
describe('docker-compose.yml agrees with the stack', () => {
  const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { image?: string; build?: string; command?: string[] | string; environment?: Record<string, string | number>; ports?: string[] }>;
  };
  const s = compose.services;
  const versions = pomVersions();

  it('has the whole topology', () => {
    expect(Object.keys(s).sort()).toEqual(
      ['connect', 'connectors', 'kafka', 'migrate', 'postgres', ...DEFAULT_TENANTS.map((t) => `monolith-${t}`)].sort(),
    );
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
});
