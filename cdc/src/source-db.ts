import pg from 'pg';
import { redactUrl } from '@strangler/common';
import { CdcError } from './errors';

/**
 * A connected client of a monolith database, or a retriable
 * STR_ERR_CDC_SOURCE_UNAVAILABLE whose message `says` (given the driver's
 * reason and the URL without its password) what could not be done.
 */
export async function connectSource(url: string, says: (reason: string, at: string) => string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  // A session idle between polls (waitUntilStreaming's) that the server ends (a restart, a stop) would otherwise
  // throw from an 'error' event and take the process down: the next query on it fails instead, and says why.
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw new CdcError('STR_ERR_CDC_SOURCE_UNAVAILABLE', says((err as Error).message, redactUrl(url)), { cause: err, retriable: true });
  }
}
