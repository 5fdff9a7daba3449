import fs from 'node:fs';
import path from 'node:path';
import { findPrometheus, prometheusConfig, RULE_FILES, type PrometheusBinaries } from '@strangler/observability';
import { REPO_ROOT, type StackConfig } from './config';
import { StackError } from './errors';
import type { StackLayout } from './layout';
import { ManagedProcess, waitUntilHealthy } from './process';

const CLI = path.join(REPO_ROOT, 'cli', 'src', 'main.ts');

export interface Observing {
  readonly prometheusUrl: string;
  readonly cdcExporterUrl: string;
  readonly configFile: string;
  readonly processes: readonly ManagedProcess[];
}

/** What Prometheus scrapes in this stack (the broker's and Connect's JMX agents run when config.observe is set). */
export interface ObserveTargets {
  readonly proxies: ReadonlyArray<{ readonly adminUrl: string; readonly tokenFile: string }>;
  readonly services: ReadonlyArray<{ readonly name: string; readonly url: string }>;
  readonly connectUrl: string;
  readonly kafkaBootstrap: string;
  /** Connect's log, when this stack runs Connect (the exporter counts task restarts in it). */
  readonly connectLog: string | null;
  /** Whether this stack runs the broker and Connect (with the JMX agents); ones run elsewhere are theirs to expose. */
  readonly jmx: { readonly broker: boolean; readonly connect: boolean };
}

const hostPort = (url: string) => new URL(url).host;

/** Prometheus's binaries, or STR_ERR_STACK_PROMETHEUS_MISSING with what to do. */
export function assertPrometheus(): PrometheusBinaries {
  const bins = findPrometheus();
  if ('missing' in bins) throw new StackError('STR_ERR_STACK_PROMETHEUS_MISSING', `--observe needs Prometheus: ${bins.missing}; or start without --observe`);
  return bins;
}

/**
 * `--observe`: `strangler cdc exporter` and Prometheus, as processes of this
 * stack. Prometheus scrapes the proxy, the services, the exporter and the
 * JMX agents every 5 s, evaluates the rules of observability/ every 5 s,
 * and keeps 7 days in the state folder. Refused with what to do when
 * Prometheus is not installed.
 */
export async function startObserving(layout: StackLayout, config: StackConfig, targets: ObserveTargets): Promise<Observing> {
  const bins = assertPrometheus();
  const dir = path.join(layout.stateDir, 'prometheus');
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const exporterPort = config.ports.cdcExporter;
  const exporter = await ManagedProcess.start('cdc-exporter', {
    command: process.execPath,
    args: ['--import', 'tsx', CLI, 'cdc', '--connect-url', targets.connectUrl, 'exporter', '--port', String(exporterPort), '--kafka', targets.kafkaBootstrap, ...(targets.connectLog ? ['--connect-log', targets.connectLog] : []), `--strangler-state=${layout.stateDir}`],
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
    logFile: layout.log('cdc-exporter'),
  });
  const cdcExporterUrl = `http://127.0.0.1:${exporterPort}`;
  try {
    await waitUntilHealthy(exporter, 'the cdc exporter', `${cdcExporterUrl}/healthz`, 60_000);
  } catch (err) {
    await exporter.stop('SIGKILL', 1000);
    throw err;
  }
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(
    configFile,
    prometheusConfig({
      ruleFiles: RULE_FILES,
      targets: {
        proxies: targets.proxies.map((p) => ({ address: hostPort(p.adminUrl), tokenFile: p.tokenFile })),
        services: targets.services.map((s) => ({ name: s.name, address: hostPort(s.url) })),
        cdcExporter: `127.0.0.1:${exporterPort}`,
        connectJmx: targets.jmx.connect ? [`127.0.0.1:${config.ports.connectJmx}`] : [],
        brokerJmx: targets.jmx.broker ? [`127.0.0.1:${config.ports.kafkaJmx}`] : [],
      },
      externalLabels: { strangler: path.basename(layout.stateDir) },
    }),
  );
  const prometheusUrl = `http://127.0.0.1:${config.ports.prometheus}`;
  const prometheus = await ManagedProcess.start('prometheus', {
    command: bins.prometheus,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      '--storage.tsdb.retention.time=7d',
      `--web.listen-address=127.0.0.1:${config.ports.prometheus}`,
      '--web.enable-lifecycle',
      `--web.external-url=${prometheusUrl}`,
    ],
    logFile: layout.log('prometheus'),
  });
  try {
    await waitUntilHealthy(prometheus, `Prometheus ${bins.version}`, `${prometheusUrl}/-/ready`, 60_000);
  } catch (err) {
    await exporter.stop('SIGTERM', 3000);
    throw err;
  }
  return { prometheusUrl, cdcExporterUrl, configFile, processes: [exporter, prometheus] };
}
