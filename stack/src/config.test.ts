import path from 'node:path';
import { ConfigError } from '@strangler/common';
import { DEFAULT_PORTS, loadStackConfig, monolithPort, REPO_ROOT } from './config';

describe('loadStackConfig', () => {
  it('defaults to ports away from the services a machine may already run', () => {
    const config = loadStackConfig({}, {});
    expect(config.ports).toEqual(DEFAULT_PORTS);
    const taken = [5432, 3306, 6379, 5672, 15672, 1883, 4222, 8222, 9092, 8083];
    for (const port of Object.values(config.ports)) expect(taken).not.toContain(port);
    expect(config.tenants).toEqual(['acme', 'globex']);
    expect(config.stateDir).toBe(path.join(REPO_ROOT, '.strangler', 'stack'));
    expect(config.cacheDir).toBe(path.join(REPO_ROOT, '.cache', 'stack'));
    expect(config.postgres.osUser).toBe('strangler-pg');
  });

  it('takes every port and folder from the environment, and overrides over both', () => {
    const config = loadStackConfig(
      { ports: { connect: 28083 } },
      {
        STRANGLER_PG_PORT: '25432',
        STRANGLER_KAFKA_PORT: '29092',
        STRANGLER_KAFKA_CONTROLLER_PORT: '29093',
        STRANGLER_CONNECT_PORT: '38083',
        STRANGLER_MONOLITH_PORT_BASE: '28100',
        STRANGLER_PROXY_PORT: '28080',
        STRANGLER_PROXY_ADMIN_PORT: '28090',
        STRANGLER_EXTRACTED_PORT_BASE: '28200',
        STRANGLER_PROMETHEUS_PORT: '29090',
        STRANGLER_KAFKA_JMX_PORT: '29404',
        STRANGLER_CONNECT_JMX_PORT: '29405',
        STRANGLER_CDC_EXPORTER_PORT: '29406',
        STRANGLER_CATALOG_PORT: '28095',
        STRANGLER_OBSERVE: 'yes',
        STRANGLER_STATE_DIR: '/tmp/strangler-x',
        STRANGLER_TENANTS: 'alpha, beta,gamma',
      },
    );
    expect(config.ports).toEqual({ postgres: 25432, kafka: 29092, kafkaController: 29093, connect: 28083, monolithBase: 28100, proxy: 28080, proxyAdmin: 28090, extractedBase: 28200, prometheus: 29090, kafkaJmx: 29404, connectJmx: 29405, cdcExporter: 29406, catalog: 28095 });
    expect(config.observe).toBe(true);
    expect(loadStackConfig({}, {}).observe).toBe(false);
    expect(() => loadStackConfig({}, { STRANGLER_OBSERVE: 'maybe' })).toThrow(/STRANGLER_OBSERVE \(observe\)/);
    expect(config.stateDir).toBe('/tmp/strangler-x');
    expect(config.tenants).toEqual(['alpha', 'beta', 'gamma']);
    expect(monolithPort(config, 'gamma')).toBe(28102);
  });

  it('reports every error at once, under the name the user set it by, with the value', () => {
    let error: unknown;
    try {
      loadStackConfig({ tenants: ['Acme'], jvmHeap: 'lots' }, { STRANGLER_KAFKA_PORT: '80', STRANGLER_CONNECT_PORT: 'abc' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('STR_ERR_CONFIG_INVALID');
    expect((error as ConfigError).message).toBe(
      [
        'invalid configuration (stack):',
        '  - tenants.0: must start with a letter and hold only a-z, 0-9 and _ (it names a database, a replication slot and a topic prefix) (got "Acme")',
        '  - STRANGLER_KAFKA_PORT (ports.kafka): must be between 1024 and 65535 (got 80)',
        '  - STRANGLER_CONNECT_PORT (ports.connect): must be a port number (got "abc")',
        '  - jvmHeap: must look like 512m or 1g (got "lots")',
      ].join('\n'),
    );
  });

  it('names the port that collides with another', () => {
    expect(() => loadStackConfig({}, { STRANGLER_CONNECT_PORT: String(DEFAULT_PORTS.kafka) })).toThrow(
      'invalid configuration (stack):\n  - STRANGLER_CONNECT_PORT (ports.connect): is the same port as ports.kafka (got 19092)',
    );
  });

  it('refuses duplicate tenants and an external server URL that is not postgres://', () => {
    expect(() => loadStackConfig({ tenants: ['acme', 'acme'] }, {})).toThrow('  - tenants: tenant names must be unique (got ["acme","acme"])');
    expect(() => loadStackConfig({}, { STRANGLER_PG_URL: 'mysql://x' })).toThrow(
      '  - STRANGLER_PG_URL (postgres.url): must be a postgres:// URL (got "mysql://x")',
    );
  });

  it('is frozen', () => {
    const config = loadStackConfig({}, {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.ports)).toBe(true);
    expect(Object.isFrozen(config.tenants)).toBe(true);
  });
});
