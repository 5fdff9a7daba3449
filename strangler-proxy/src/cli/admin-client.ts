import os from 'node:os';
import { StranglerError } from '@strangler/common';

export interface AdminTarget {
  readonly url: string;
  readonly token: string;
}

/** A thin client of the admin API; every failure is a StranglerError with the server's code. */
export class AdminClient {
  constructor(private readonly target: AdminTarget) {}

  async call<T>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.target.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.target.token}`,
          'x-strangler-actor': os.userInfo().username.replace(/[^\w.@-]/g, '_').slice(0, 64),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new StranglerError(
        'STR_ERR_ADMIN_UNREACHABLE',
        `cannot reach the proxy's admin API at ${this.target.url} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}): is the proxy running? Set --admin-url or STRANGLER_ADMIN_URL`,
        { cause: err, retriable: true },
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      json = null;
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
      throw new StranglerError(e?.code ?? 'STR_ERR_ADMIN_HTTP', e?.message ?? `admin API answered ${res.status}`, { context: { status: res.status } });
    }
    return json as T;
  }
}
