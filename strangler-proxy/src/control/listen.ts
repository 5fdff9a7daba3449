import pg from 'pg';

export interface Listening {
  /** Stops listening; no reconnect after it. */
  close(): Promise<void>;
}

/**
 * LISTENs on a channel of the control store on a connection of its own,
 * calling `onPayload` for each notification, and connects again `retryMs`
 * after the connection is lost (or cannot be made). What is notified while
 * it is away is lost: callers that cannot afford that poll as well.
 */
export function listen(url: string, channel: string, onPayload: (payload: string) => void, retryMs: number): Listening {
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  const connect = async () => {
    retry = null;
    if (closed) return;
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    c.on('end', () => {
      if (client === c) client = null;
      if (!closed) retry = setTimeout(() => void connect(), retryMs).unref();
    });
    try {
      await c.connect();
      c.on('notification', (n) => {
        if (n.channel === channel) onPayload(n.payload ?? '');
      });
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      if (closed) await c.end();
      else client = c;
    } catch {
      await c.end().catch(() => {});
    }
  };
  void connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
