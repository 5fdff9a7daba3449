import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureRuntime, freePort, loadStackConfig, stackLayout, startConnect, startKafka, type ManagedProcess } from '@strangler/stack';
import { testStack } from './env';

/**
 * A Kafka broker and a Kafka Connect worker of a test's own (own ports,
 * own state folder, the test stack's jars and PostgreSQL), so that a fault
 * test can kill -9 them and start them again without touching the shared
 * stack every other test uses.
 */
export interface PrivateBrokers {
  readonly kafka: string;
  readonly connectUrl: string;
  /** kill -9 of the broker (its whole process group); resolves once it is gone. */
  killKafka(): Promise<void>;
  /** Starts the broker again on the same data; resolves once it answers metadata. */
  startKafka(): Promise<void>;
  killConnect(): Promise<void>;
  /** Starts the worker again; resolves once its REST API lists the Debezium plugin. */
  startConnect(): Promise<void>;
  /** Stops both and removes the state folder. */
  stop(): Promise<void>;
}

export async function privateBrokers(): Promise<PrivateBrokers> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-brokers-'));
  const config = loadStackConfig({
    stateDir,
    ports: { kafka: await freePort(), kafkaController: await freePort(), connect: await freePort() },
    postgres: { url: testStack().pgAdminUrl },
    monoliths: false,
    connectors: false,
    jvmHeap: '512m',
  });
  const layout = stackLayout(config);
  for (const dir of [layout.logsDir, layout.kafkaDir, layout.connectDir]) fs.mkdirSync(dir, { recursive: true });
  const runtime = await ensureRuntime(layout, config.cacheDir);
  let kafka: ManagedProcess | null = null;
  let connect: ManagedProcess | null = null;
  // Whatever happens to the test (a hung clean-up, a worker that exits), no JVM outlives its process.
  const killNow = () => {
    kafka?.killNow();
    connect?.killNow();
  };
  process.once('exit', killNow);
  const brokers: PrivateBrokers = {
    kafka: `127.0.0.1:${config.ports.kafka}`,
    connectUrl: `http://127.0.0.1:${config.ports.connect}`,
    async killKafka() {
      await kafka?.stop('SIGKILL', 5_000);
      kafka = null;
    },
    async startKafka() {
      kafka = (await startKafka(config, layout, runtime)).process;
    },
    async killConnect() {
      await connect?.stop('SIGKILL', 5_000);
      connect = null;
    },
    async startConnect() {
      connect = (await startConnect(config, layout, runtime)).process;
    },
    async stop() {
      await connect?.stop('SIGTERM', 10_000);
      await kafka?.stop('SIGTERM', 10_000);
      connect = kafka = null;
      process.off('exit', killNow);
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
  try {
    await brokers.startKafka();
    await brokers.startConnect();
  } catch (err) {
    await brokers.stop();
    throw err;
  }
  return brokers;
}
