import cluster from 'node:cluster';
import os from 'node:os';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { isStranglerError } from '@strangler/common';
import { ClusterLink } from '../cluster/link';
import { ProxyCluster, WORKER_ADMIN_PORT_ENV, WORKER_PORT_ENV } from '../cluster/primary';
import { compileConfigText, readConfigText } from '../config/compile';
import { ProxyRuntime } from '../server/runtime';

/**
 * `strangler proxy serve --config FILE [--workers N|auto]`: one replica,
 * stopped (drained) by SIGTERM or SIGINT. With more than one worker (the
 * flag, or listen.workers), this process becomes the cluster's primary and
 * every worker runs this same command as one whole replica.
 */
export function registerServeCommand(program: Command): void {
  program
    .command('proxy')
    .description('run the routing proxy')
    .command('serve')
    .description('serve with a YAML config; reloads it on change; SIGTERM drains then exits')
    .requiredOption('--config <file>', 'the proxy config (see strangler-proxy/examples/proxy.yaml)')
    .option('--port <port>', 'override listen.port', (v) => Number.parseInt(v, 10))
    .option('--admin-port <port>', 'override admin.port', (v) => Number.parseInt(v, 10))
    .option('--workers <n>', "override listen.workers: processes serving the port (a number, or 'auto': one per core)", parseWorkers)
    .action(async (opts: { config: string; port?: number; adminPort?: number; workers?: number | 'auto' }) => {
      const configFile = path.resolve(opts.config);
      if (cluster.isWorker) return void (await serveWorker(configFile));
      const config = compileConfigText(readConfigText(configFile), configFile, process.env).config;
      const wanted = opts.workers ?? config.listen.workers;
      const workers = wanted === 'auto' ? os.availableParallelism() : wanted;
      if (workers > 1) return void (await servePrimary(workers, opts, config));
      const rt = await ProxyRuntime.start({
        configFile,
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        ...(opts.adminPort !== undefined ? { adminPort: opts.adminPort } : {}),
      });
      onSignals((signal) => {
        rt.logger.info({ signal, inFlight: 'draining' }, 'stopping');
        void rt.stop().then(() => process.exit(0));
      });
    });
}

async function servePrimary(
  workers: number,
  opts: { port?: number; adminPort?: number },
  config: ReturnType<typeof compileConfigText>['config'],
): Promise<void> {
  const logger = pino({ level: config.log.level, base: { service: 'strangler-proxy', role: 'primary' } });
  const c = await ProxyCluster.start({
    workers,
    host: config.listen.host,
    port: opts.port ?? config.listen.port,
    adminHost: config.admin.host,
    adminPort: opts.adminPort ?? config.admin.port,
    drainMs: config.drain.timeoutMs,
    logger,
  }).catch((err: Error) => {
    logger.error({ err }, err.message);
    logger.flush?.();
    process.exit(1);
  });
  onSignals((signal) => {
    logger.info({ signal, workers }, 'stopping: every worker drains');
    void c.stop().then(() => process.exit(0));
  });
}

async function serveWorker(configFile: string): Promise<void> {
  const link = new ClusterLink();
  let rt: ProxyRuntime;
  try {
    rt = await ProxyRuntime.start({ configFile, port: Number(process.env[WORKER_PORT_ENV]), adminPort: Number(process.env[WORKER_ADMIN_PORT_ENV]), link });
  } catch (err) {
    // Say why, then leave: the IPC channel to the primary would keep this process alive otherwise.
    console.error(`strangler: proxy worker ${link.worker}: ${isStranglerError(err) ? `${err.message} [${err.code}]` : ((err as Error).stack ?? String(err))}`);
    process.exit(1);
  }
  link.ready(rt.url, rt.adminUrl);
  const stop = (why: string) => {
    rt.logger.info({ why, worker: link.worker, inFlight: 'draining' }, 'stopping');
    void rt.stop().then(() => process.exit(0));
  };
  onSignals(stop);
  // The primary is gone (killed): nothing accepts connections for this worker any more.
  process.once('disconnect', () => stop('the cluster primary went away'));
}

function onSignals(stop: (signal: string) => void): void {
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function parseWorkers(v: string): number | 'auto' {
  if (v === 'auto') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`'${v}' is not a worker count: give 1-64 or auto`);
  return n;
}
