import type { Server } from 'node:http';
import { createApp } from './app';
import { createDb } from './db';

/**
 * One monolith process for one tenant:
 *   TENANT=acme DATABASE_URL=postgres://... PORT=18101 tsx monolith/src/server.ts
 */
function main(): void {
  const { TENANT, DATABASE_URL, PORT } = process.env;
  const missing = Object.entries({ TENANT, DATABASE_URL, PORT }).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) {
    console.error(`monolith: set ${missing.join(', ')} (for example TENANT=acme DATABASE_URL=postgres://postgres@127.0.0.1:54329/monolith_acme PORT=18101)`);
    process.exit(2);
  }
  const port = Number(PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`monolith: PORT must be a port number, got ${JSON.stringify(PORT)}`);
    process.exit(2);
  }
  const db = createDb(DATABASE_URL!);
  // Loopback unless told otherwise (a container sets HOST=0.0.0.0).
  const host = process.env.HOST || '127.0.0.1';
  const server: Server = createApp({ db, tenant: TENANT! }).listen(port, host, () => {
    console.log(JSON.stringify({ level: 'info', msg: 'monolith listening', tenant: TENANT, port }));
  });
  server.keepAliveTimeout = 65_000;
  const stop = () => {
    server.close(() => void db.destroy().then(() => process.exit(0)));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main();
