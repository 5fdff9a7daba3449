import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStackConfig } from './config';
import { workerProperties } from './connect';
import { brokerProperties } from './kafka';
import { stackLayout } from './layout';
import { loggingBindings, pomVersions, type Runtime } from './runtime';

describe('the pinned JVM runtime', () => {
  it('pins a Kafka 4.x broker with the Debezium 3.x release built against it', () => {
    const v = pomVersions();
    expect(v.kafka).toMatch(/^4\.\d+\.\d+$/);
    expect(v.debezium).toMatch(/^3\.\d+\.\d+\.Final$/);
  });

  it('counts SLF4J bindings on a classpath folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bindings-'));
    for (const jar of ['slf4j-api-1.7.36.jar', 'log4j-slf4j-impl-2.26.1.jar', 'kafka-clients-4.3.1.jar']) fs.writeFileSync(path.join(dir, jar), '');
    expect(loggingBindings(dir)).toEqual(['log4j-slf4j-impl-2.26.1.jar']);
    fs.writeFileSync(path.join(dir, 'slf4j-reload4j-1.7.36.jar'), '');
    expect(loggingBindings(dir).sort()).toEqual(['log4j-slf4j-impl-2.26.1.jar', 'slf4j-reload4j-1.7.36.jar']);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('process configs', () => {
  const config = loadStackConfig({ stateDir: '/tmp/s' }, {});
  const layout = stackLayout(config);

  it('runs Kafka as one KRaft node, broker and controller, on loopback', () => {
    const p = brokerProperties(config, layout);
    expect(p['process.roles']).toBe('broker,controller');
    expect(p['controller.quorum.voters']).toBe('1@127.0.0.1:19093');
    expect(p.listeners).toBe('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
    expect(p['offsets.topic.replication.factor']).toBe(1);
    expect(p['log.dirs']).toBe('/tmp/s/kafka/data');
  });

  it('runs Connect as a distributed worker with the JSON converter and the plugin folder', () => {
    const runtime = { pluginDir: '/cache/connect-plugins' } as Runtime;
    const p = workerProperties(config, layout, runtime);
    expect(p['bootstrap.servers']).toBe('127.0.0.1:19092');
    expect(p['value.converter']).toBe('org.apache.kafka.connect.json.JsonConverter');
    expect(p['plugin.path']).toBe('/cache/connect-plugins');
    expect(p.listeners).toBe('http://127.0.0.1:18083');
    expect(p['config.storage.replication.factor']).toBe(1);
  });
});
