import path from 'node:path';
import { waitFor } from '@strangler/common';
import type { StackConfig } from './config';
import { StackError } from './errors';
import { jvmArgs, writeLog4j, writeProperties } from './jvm';
import { JMX_RULES } from '@strangler/observability';
import { kafkaBootstrap } from './kafka';
import type { StackLayout } from './layout';
import { ManagedProcess } from './process';
import type { Runtime } from './runtime';

export const DEBEZIUM_POSTGRES_CLASS = 'io.debezium.connector.postgresql.PostgresConnector';

export function connectUrl(config: StackConfig): string {
  return `http://127.0.0.1:${config.ports.connect}`;
}

/** A distributed worker (REST-managed, state in Kafka topics), single node. */
export function workerProperties(config: StackConfig, layout: StackLayout, runtime: Runtime): Record<string, string | number | boolean> {
  return {
    'bootstrap.servers': kafkaBootstrap(config),
    'group.id': 'strangler-connect',
    'config.storage.topic': '_strangler_connect_configs',
    'offset.storage.topic': '_strangler_connect_offsets',
    'status.storage.topic': '_strangler_connect_status',
    'config.storage.replication.factor': 1,
    'offset.storage.replication.factor': 1,
    'status.storage.replication.factor': 1,
    // Debezium's source offsets are flushed this often; a shorter interval means fewer re-emitted events after a crash.
    'offset.flush.interval.ms': 1000,
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': true,
    'value.converter.schemas.enable': true,
    listeners: `http://127.0.0.1:${config.ports.connect}`,
    'rest.advertised.host.name': '127.0.0.1',
    'rest.advertised.port': config.ports.connect,
    'plugin.path': runtime.pluginDir,
    // Debezium ships ServiceLoader manifests, so Connect can skip the slow reflective scan.
    'plugin.discovery': 'service_load',
    'topic.creation.enable': true,
    'producer.linger.ms': 5,
    // Each event carries its schema (a few KB): the default 16 KB batch held about four, one produce request each.
    'producer.batch.size': 1048576,
    'scheduled.rebalance.max.delay.ms': 0,
  };
}

export async function startConnect(
  config: StackConfig,
  layout: StackLayout,
  runtime: Runtime,
): Promise<{ process: ManagedProcess; url: string }> {
  const props = path.join(layout.connectDir, 'worker.properties');
  const log4j = path.join(layout.connectDir, 'log4j2.properties');
  writeProperties(props, workerProperties(config, layout, runtime));
  writeLog4j(log4j, { 'org.reflections': 'ERROR', 'org.apache.kafka.clients': 'WARN', 'org.apache.kafka.common.config': 'WARN' });
  const child = await ManagedProcess.start('connect', {
    command: runtime.java,
    args: [
      ...jvmArgs(runtime, { heap: config.jvmHeap, log4j, marker: layout.stateDir, mainClass: 'org.apache.kafka.connect.cli.ConnectDistributed', ...(config.observe ? { jmxExporter: { port: config.ports.connectJmx, config: JMX_RULES.connect } } : {}) }),
      props,
    ],
    logFile: layout.log('connect'),
  });
  const url = connectUrl(config);
  await waitForConnect(url, () => child.deathError()).catch(async (err: unknown) => {
    await child.stop('SIGKILL', 1000);
    throw err;
  });
  return { process: child, url };
}

/** Ready means the REST API answers and lists the Debezium PostgreSQL plugin. */
export async function waitForConnect(url: string, abort?: () => Error | undefined, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    `Kafka Connect at ${url} to list ${DEBEZIUM_POSTGRES_CLASS}`,
    async () => {
      const res = await fetch(`${url}/connector-plugins`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return undefined;
      const plugins = (await res.json()) as { class: string }[];
      if (plugins.some((p) => p.class === DEBEZIUM_POSTGRES_CLASS)) return true;
      throw new Error(`Connect is up but lists no ${DEBEZIUM_POSTGRES_CLASS}: check plugin.path`);
    },
    { timeoutMs, intervalMs: 250, ...(abort ? { abort } : {}) },
  ).catch((err: unknown) => {
    throw err instanceof StackError ? err : new StackError('STR_ERR_STACK_NOT_READY', (err as Error).message, { cause: err });
  });
}
