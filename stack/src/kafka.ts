import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from '@strangler/common';
import type { StackConfig } from './config';
import { StackError } from './errors';
import { jvmArgs, newClusterId, writeLog4j, writeProperties } from './jvm';
import { JMX_RULES } from '@strangler/observability';
import type { StackLayout } from './layout';
import { ManagedProcess, tailFile } from './process';
import type { Runtime } from './runtime';

export function kafkaBootstrap(config: StackConfig): string {
  return `127.0.0.1:${config.ports.kafka}`;
}

/** Single-node KRaft: one process is both broker and controller. */
export function brokerProperties(config: StackConfig, layout: StackLayout): Record<string, string | number | boolean> {
  const { kafka, kafkaController } = config.ports;
  return {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${kafkaController}`,
    listeners: `PLAINTEXT://127.0.0.1:${kafka},CONTROLLER://127.0.0.1:${kafkaController}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${kafka}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': layout.kafkaData,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // A development stack: lets a consumer that wants a quick takeover after a crash (tests do) ask for a 2 s session.
    'group.min.session.timeout.ms': 1000,
    'auto.create.topics.enable': true,
    'log.retention.hours': -1,
    'log.segment.bytes': 268435456,
  };
}

export async function startKafka(
  config: StackConfig,
  layout: StackLayout,
  runtime: Runtime,
): Promise<{ process: ManagedProcess; bootstrap: string; clusterId: string }> {
  const props = path.join(layout.kafkaDir, 'server.properties');
  const log4j = path.join(layout.kafkaDir, 'log4j2.properties');
  writeProperties(props, brokerProperties(config, layout));
  writeLog4j(log4j, { 'kafka.request.logger': 'WARN', 'org.apache.kafka.controller': 'WARN', 'state.change.logger': 'WARN' });
  const logFile = layout.log('kafka');
  const metaFile = path.join(layout.kafkaData, 'meta.properties');
  let clusterId = fs.existsSync(metaFile) ? /cluster\.id=(\S+)/.exec(fs.readFileSync(metaFile, 'utf8'))?.[1] : undefined;
  if (!clusterId) {
    clusterId = newClusterId();
    const format = spawnSync(
      runtime.java,
      [...jvmArgs(runtime, { heap: '256m', log4j, marker: layout.stateDir, mainClass: 'kafka.tools.StorageTool' }), 'format', `--cluster-id=${clusterId}`, '-c', props],
      { encoding: 'utf8' },
    );
    fs.appendFileSync(logFile, `${format.stdout}${format.stderr}`);
    if (format.status !== 0) {
      throw new StackError('STR_ERR_STACK_PROCESS_EXITED', `formatting Kafka's storage failed. Last lines of ${logFile}:\n${tailFile(logFile, 20)}`, {
        context: { logFile },
      });
    }
  }
  const child = await ManagedProcess.start('kafka', {
    command: runtime.java,
    args: [...jvmArgs(runtime, { heap: config.jvmHeap, log4j, marker: layout.stateDir, mainClass: 'kafka.Kafka', ...(config.observe ? { jmxExporter: { port: config.ports.kafkaJmx, config: JMX_RULES.broker } } : {}) }), props],
    logFile,
  });
  const bootstrap = kafkaBootstrap(config);
  await waitForBroker(bootstrap, () => child.deathError()).catch(async (err: unknown) => {
    await child.stop('SIGKILL', 1000);
    throw err;
  });
  return { process: child, bootstrap, clusterId };
}

/**
 * Ready means the broker answers a metadata request from kafkajs, the
 * project's client: this also proves early that kafkajs speaks this broker's
 * protocol versions (Kafka 4 removed the oldest ones).
 */
export async function waitForBroker(bootstrap: string, abort?: () => Error | undefined, timeoutMs = 60_000): Promise<void> {
  const kafka = new Kafka({ clientId: 'strangler-stack', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  await waitFor(
    `Kafka at ${bootstrap} to answer metadata`,
    async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0 && cluster.controller !== null ? true : undefined;
      } finally {
        await admin.disconnect();
      }
    },
    { timeoutMs, intervalMs: 250, ...(abort ? { abort } : {}) },
  ).catch((err: unknown) => {
    throw err instanceof StackError ? err : new StackError('STR_ERR_STACK_NOT_READY', (err as Error).message, { cause: err });
  });
}
