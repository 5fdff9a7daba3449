import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { loadStackConfig, runningOwner, stackLayout, startStack, type RunningStack } from '@strangler/stack';
import { findPrometheus } from '@strangler/observability';

declare global {
  // eslint-disable-next-line no-var
  var __STRANGLER_STACK__: RunningStack | undefined;
}

/**
 * Gives the integration tests a real stack: a running one from the default
 * state folder when there is one (npm start in another terminal), otherwise a
 * fresh one without monoliths or connectors (tests create their own tenants
 * with random names). Endpoints reach the test workers through the environment.
 */
export default async function globalSetup(): Promise<void> {
  // Observed (Prometheus with the alert rules, the JMX agents, the cdc exporter) wherever Prometheus is installed: the alert test needs it.
  const prometheus = findPrometheus();
  const config = loadStackConfig({ monoliths: false, connectors: false, observe: !('missing' in prometheus) });
  const owner = runningOwner(stackLayout(config));
  let endpoints: { pg: string; kafka: string; connect: string };
  if (owner?.readyAt && (await reachable(owner.endpoints.postgresAdminUrl, owner.endpoints.kafkaBootstrap, owner.endpoints.connectUrl))) {
    endpoints = { pg: owner.endpoints.postgresAdminUrl, kafka: owner.endpoints.kafkaBootstrap, connect: owner.endpoints.connectUrl };
    console.log(`\nintegration tests use the stack already running (pid ${owner.ownerPid})`);
    // Started with --observe? Then its Prometheus answers on the configured port.
    const url = `http://127.0.0.1:${config.ports.prometheus}`;
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ready) process.env.STRANGLER_TEST_PROMETHEUS_URL = url;
    else process.env.STRANGLER_TEST_NO_PROMETHEUS = 'the running stack was started without --observe';
  } else {
    console.log('\nstarting the stack for the integration tests...');
    const stack = await startStack(config, (line) => console.log(line));
    globalThis.__STRANGLER_STACK__ = stack;
    endpoints = { pg: stack.postgres.adminUrl, kafka: stack.kafkaBootstrap, connect: stack.connectUrl };
    console.log(`stack ready in ${(stack.readyMs / 1000).toFixed(1)} s`);
    if (stack.observing) process.env.STRANGLER_TEST_PROMETHEUS_URL = stack.observing.prometheusUrl;
    else process.env.STRANGLER_TEST_NO_PROMETHEUS = (prometheus as { missing: string }).missing;
  }
  // Every test's scratch files go in here (scratchDir); the global teardown removes it.
  process.env.STRANGLER_TEST_TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-test-run-'));
  process.env.STRANGLER_TEST_PG_URL = endpoints.pg;
  process.env.STRANGLER_TEST_KAFKA = endpoints.kafka;
  process.env.STRANGLER_TEST_CONNECT_URL = endpoints.connect;
  // Connect's log (tasks that keep restarting show only there), in the default state folder both paths use.
  process.env.STRANGLER_TEST_CONNECT_LOG = stackLayout(config).log('connect');
}

async function reachable(pgUrl: string, kafka: string, connect: string): Promise<boolean> {
  try {
    const pg = new Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
    await pg.connect();
    await pg.end();
    const admin = new Kafka({ brokers: [kafka], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    await admin.connect();
    await admin.disconnect();
    // Its own dispatcher, closed after: a pooled keep-alive socket would keep jest from exiting once the run ends.
    const agent = new Agent({ connect: { timeout: 2000 } });
    try {
      const res = await request(`${connect}/connector-plugins`, { dispatcher: agent, signal: AbortSignal.timeout(2000) });
      await res.body.dump();
      return res.statusCode === 200;
    } finally {
      await agent.close();
    }
  } catch {
    return false;
  }
}
