import { parseArgs } from 'node:util';
import { isStranglerError } from '@strangler/common';
import { ConnectClient } from './connect-client';
import { registerTenantConnector, waitUntilStreaming } from './register';
import { cdcStatus, formatStatus } from './status';
import { kafkaClients } from './kafka';
import { formatProjectionLag, projectionLag, type ProjectionLagRow } from './projector/lag';

const USAGE = `usage:
  npm run cdc -- status [--connect-url URL] [--service-db URL ...] [--kafka HOST:PORT] [--json]
  npm run cdc -- register --tenant NAME --database-url postgres://user@host:port/db [--connect-url URL] [--wait]

The Connect URL defaults to STRANGLER_CONNECT_URL, then http://127.0.0.1:18083 (the stack's default).
status also shows each projection's lag per partition, read from the service databases given with
--service-db (default: the stack's extracted_messaging, when it answers) against the topics' ends.`;

function fail(message: string, code = 2): never {
  console.error(`cdc: ${message}`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        'connect-url': { type: 'string' },
        tenant: { type: 'string' },
        'database-url': { type: 'string' },
        json: { type: 'boolean', default: false },
        'service-db': { type: 'string', multiple: true },
        kafka: { type: 'string' },
        wait: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const connect = new ConnectClient(values['connect-url'] ?? process.env.STRANGLER_CONNECT_URL ?? 'http://127.0.0.1:18083');
  switch (command) {
    case 'status': {
      const reports = await cdcStatus(connect);
      const explicit = values['service-db'] ?? [];
      const dbs = explicit.length > 0 ? explicit : ['postgresql://postgres@127.0.0.1:54329/extracted_messaging'];
      const kafka = kafkaClients([values.kafka ?? process.env.STRANGLER_KAFKA ?? '127.0.0.1:19092'], 'strangler-cdc-status');
      const lag: ProjectionLagRow[] = [];
      for (const db of dbs) {
        try {
          lag.push(...(await projectionLag(db, kafka)));
        } catch (err) {
          if (explicit.length > 0) throw err; // asked for it: say why it failed
        }
      }
      console.log(values.json ? JSON.stringify({ connectors: reports, projections: lag }, null, 2) : `${formatStatus(reports)}\n\nprojections\n${formatProjectionLag(lag)}`);
      if (reports.some((r) => r.connectorState !== 'RUNNING' || r.tasks.some((t) => t.state !== 'RUNNING'))) process.exitCode = 1;
      return;
    }
    case 'register': {
      if (!values.tenant || !values['database-url']) fail(`register needs --tenant and --database-url\n${USAGE}`);
      const url = new URL(values['database-url']);
      const result = await registerTenantConnector(connect, {
        tenant: values.tenant,
        host: url.hostname,
        port: Number(url.port || 5432),
        database: decodeURIComponent(url.pathname.slice(1)),
        user: decodeURIComponent(url.username || 'postgres'),
        password: decodeURIComponent(url.password),
      });
      console.log(`${result.name}: ${result.action}`);
      if (values.wait) {
        await waitUntilStreaming(connect, values.tenant, values['database-url']);
        console.log(`${result.name}: streaming`);
      }
      return;
    }
    default:
      fail(command ? `unknown command "${command}"\n${USAGE}` : USAGE);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (isStranglerError(err)) fail(`${err.message} [${err.code}]`, 1);
  fail((err as Error).stack ?? String(err), 1);
});
