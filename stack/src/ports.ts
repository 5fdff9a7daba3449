import net from 'node:net';
import { StackError } from './errors';

/** Fails with every taken port at once, each with the setting that moves it. */
export async function assertPortsFree(ports: readonly { port: number; what: string; env: string }[]): Promise<void> {
  const taken: string[] = [];
  await Promise.all(
    ports.map(
      ({ port, what, env }) =>
        new Promise<void>((resolve) => {
          const server = net.createServer();
          server.once('error', () => {
            taken.push(`  - ${port} (${what}) is taken: free it (ss -ltnp 'sport = :${port}' shows who holds it) or set ${env} to a free port`);
            resolve();
          });
          server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve()));
        }),
    ),
  );
  if (taken.length) {
    throw new StackError('STR_ERR_STACK_PORT_TAKEN', `cannot start the stack:\n${taken.sort().join('\n')}`, { context: { taken } });
  }
}

/** A port the OS says is free right now (tests use it to run a second stack beside the first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
