import { CdcError } from './errors';

export type ConnectorConfig = Readonly<Record<string, string>>;

export interface ConnectorStatus {
  readonly name: string;
  readonly connector: { readonly state: string; readonly worker_id: string; readonly trace?: string };
  readonly tasks: readonly { readonly id: number; readonly state: string; readonly worker_id: string; readonly trace?: string }[];
  readonly type: string;
}

export interface ValidationResult {
  readonly error_count: number;
  readonly configs: readonly { readonly value: { readonly name: string; readonly value: string | null; readonly errors: readonly string[] } }[];
}

/**
 * The Kafka Connect REST API, as much of it as Strangler needs. Transport
 * failures are retriable; 4xx answers are not, and keep Connect's message.
 */
export class ConnectClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 30_000,
  ) {}

  private async request<T>(method: string, path: string, body?: unknown, allow404 = false): Promise<T | undefined> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
      const reason = [(err as Error).message, ((err as Error).cause as Error | undefined)?.message].filter(Boolean).join(': ');
      throw new CdcError('STR_ERR_CDC_CONNECT_UNREACHABLE', `Kafka Connect at ${this.baseUrl} did not answer ${method} ${path} (${reason}): is the stack running (npm start)? For another Connect pass --connect-url or set STRANGLER_CONNECT_URL`, {
        cause: err,
        retriable: true,
        context: { url: this.baseUrl, method, path },
      });
    }
    if (res.status === 404 && allow404) return undefined;
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        /* plain text answer */
      }
      throw new CdcError('STR_ERR_CDC_CONNECT_REQUEST', `Kafka Connect answered ${res.status} to ${method} ${path}: ${message}`, {
        // 409 is a rebalance in progress: worth another try.
        retriable: res.status >= 500 || res.status === 409,
        context: { status: res.status, method, path },
      });
    }
    // An empty 2xx body is null, so that undefined keeps meaning 404.
    return (text ? JSON.parse(text) : null) as T;
  }

  /** Every plugin the workers have: connectors, transformations, predicates, converters (Kafka 3.2+: connectorsOnly=false). */
  async plugins(): Promise<Array<{ class: string; type: string; version?: string }>> {
    return (await this.request<Array<{ class: string; type: string; version?: string }>>('GET', '/connector-plugins?connectorsOnly=false')) ?? [];
  }

  async listConnectors(): Promise<string[]> {
    return (await this.request<string[]>('GET', '/connectors')) ?? [];
  }

  async getConfig(name: string): Promise<ConnectorConfig | undefined> {
    return this.request<ConnectorConfig>('GET', `/connectors/${encodeURIComponent(name)}/config`, undefined, true);
  }

  /** PUT creates or replaces; Connect answers 201 for a new connector and 200 for an update. */
  async putConfig(name: string, config: ConnectorConfig): Promise<void> {
    await this.request('PUT', `/connectors/${encodeURIComponent(name)}/config`, config);
  }

  async status(name: string): Promise<ConnectorStatus | undefined> {
    return this.request<ConnectorStatus>('GET', `/connectors/${encodeURIComponent(name)}/status`, undefined, true);
  }

  async validate(connectorClass: string, config: ConnectorConfig): Promise<ValidationResult> {
    const simple = connectorClass.split('.').pop() ?? connectorClass;
    return (await this.request<ValidationResult>('PUT', `/connector-plugins/${encodeURIComponent(simple)}/config/validate`, config))!;
  }

  /** True when a connector was deleted, false when there was none of that name. */
  async deleteConnector(name: string): Promise<boolean> {
    const res = await this.request<unknown>('DELETE', `/connectors/${encodeURIComponent(name)}`, undefined, true);
    return res !== undefined;
  }

  /** Stops a connector (Connect 3.5+): its tasks shut down; its config and offsets stay. */
  async stop(name: string): Promise<void> {
    await this.request('PUT', `/connectors/${encodeURIComponent(name)}/stop`);
  }

  /** Forgets a stopped connector's source offsets (Connect 3.6+). */
  async resetOffsets(name: string): Promise<void> {
    await this.request('DELETE', `/connectors/${encodeURIComponent(name)}/offsets`);
  }

  /** Pauses a connector: its tasks stop producing (a capture stalled, for an operator or a test); resume() takes up where it was. */
  async pause(name: string): Promise<void> {
    await this.request('PUT', `/connectors/${encodeURIComponent(name)}/pause`);
  }

  async resume(name: string): Promise<void> {
    await this.request('PUT', `/connectors/${encodeURIComponent(name)}/resume`);
  }

  async restart(name: string): Promise<void> {
    await this.request('POST', `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=false`);
  }
}
