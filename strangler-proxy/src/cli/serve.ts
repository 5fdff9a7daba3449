import path from 'node:path';
import type { Command } from 'commander';
import { ProxyRuntime } from '../server/runtime';

/** `strangler proxy serve --config FILE`: one replica, stopped (drained) by SIGTERM or SIGINT. */
export function registerServeCommand(program: Command): void {
  program
    .command('proxy')
    .description('run the routing proxy')
    .command('serve')
    .description('serve with a YAML config; reloads it on change; SIGTERM drains then exits')
    .requiredOption('--config <file>', 'the proxy config (see strangler-proxy/examples/proxy.yaml)')
    .option('--port <port>', 'override listen.port', (v) => Number.parseInt(v, 10))
    .option('--admin-port <port>', 'override admin.port', (v) => Number.parseInt(v, 10))
    .action(async (opts: { config: string; port?: number; adminPort?: number }) => {
      const rt = await ProxyRuntime.start({
        configFile: path.resolve(opts.config),
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        ...(opts.adminPort !== undefined ? { adminPort: opts.adminPort } : {}),
      });
      const stop = (signal: string) => {
        rt.logger.info({ signal, inFlight: 'draining' }, 'stopping');
        void rt.stop().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
