import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorBody } from '../errors';
import type { ProxyMetrics } from '../metrics';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** A whole HTTP/1.1 answer with the proxy's JSON error body, for a socket no ServerResponse owns; the connection closes after it. */
export function rawAnswer(status: number, code: string, message: string): string {
  const body = errorBody(code, message);
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** One upstream a tunnel may open to, with the request headers it is sent (flat name, value list). */
export interface TunnelTarget {
  readonly origin: string;
  readonly headers: readonly string[];
  /** "monolith" or "extracted", for metrics. */
  readonly target: string;
  readonly connectMs: number;
}

/**
 * Raw tunnels for protocol upgrades (WebSocket and the like). The request
 * head is written to the upstream as built by the data plane, then bytes
 * flow both ways untouched, the upstream's answer (101 or a refusal)
 * included. A connect failure before anything was sent may go to a second
 * target; after that, a failure on either side closes both.
 */
export class Tunnels {
  private readonly live = new Set<Socket>();

  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {}

  open(
    client: Socket,
    head: Buffer,
    requestLine: string,
    labels: { route: string; tenant: string },
    first: TunnelTarget,
    fallback: TunnelTarget | null,
    onConnectFailure: (target: string) => void,
  ): void {
    this.live.add(client);
    client.once('close', () => this.live.delete(client));
    client.on('error', () => client.destroy());
    this.connect(client, head, requestLine, labels, first, fallback, onConnectFailure);
  }

  /** Closes every open tunnel (the proxy is stopping; clients reconnect elsewhere). */
  closeAll(): void {
    for (const s of this.live) s.destroy();
    this.live.clear();
  }

  private connect(client: Socket, head: Buffer, requestLine: string, labels: { route: string; tenant: string }, to: TunnelTarget, fallback: TunnelTarget | null, onConnectFailure: (target: string) => void): void {
    const u = new URL(to.origin);
    const upstream = net.connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) });
    upstream.setTimeout(to.connectMs);
    let connected = false;
    upstream.once('timeout', () => upstream.destroy(Object.assign(new Error(`no connection within ${to.connectMs} ms`), { code: 'ETIMEDOUT' })));
    upstream.once('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      let text = `${requestLine}\r\n`;
      for (let i = 0; i < to.headers.length; i += 2) text += `${to.headers[i]}: ${to.headers[i + 1]}\r\n`;
      upstream.write(`${text}\r\n`);
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      this.metrics.upgrades.labels(labels.route, to.target, 'tunnelled').inc();
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) {
        client.destroy();
        return;
      }
      onConnectFailure(to.target);
      if (fallback && !client.destroyed) {
        this.connect(client, head, requestLine, labels, fallback, null, onConnectFailure);
        return;
      }
      this.metrics.upgrades.labels(labels.route, to.target, 'unreachable').inc();
      this.logger.warn({ err, route: labels.route, tenant: labels.tenant, origin: to.origin }, 'upgrade: upstream unreachable');
      if (!client.destroyed) client.end(rawAnswer(502, 'STR_ERR_PROXY_UPSTREAM_UNAVAILABLE', 'the upstream could not be reached'));
    });
    upstream.once('close', () => {
      if (connected && !client.destroyed) client.end();
    });
    client.once('close', () => upstream.destroy());
  }
}
