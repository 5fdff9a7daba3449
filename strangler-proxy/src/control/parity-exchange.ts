import pg from 'pg';
import type { Counts } from '../parity/window';
import type { ParityDelta } from '../parity/shadow-parity';
import { listen, type Listening } from './listen';

export const PARITY_CHANNEL = 'strangler_parity_counts';

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more: counts go in notifications under this size. */
const MAX_PAYLOAD = 7000;

/** One notification: the replica that counted, and its counts as [route, tenant, second, counts]. */
interface Payload {
  readonly r: string;
  readonly d: ReadonlyArray<readonly [string, string, number, Partial<Counts>]>;
}

/**
 * Parity counts shared between separate proxy replicas through the control
 * store. Each replica NOTIFYs what it counted (per route, tenant and second,
 * as cluster workers hand them to each other); every replica LISTENs and
 * adds the others' counts to its own windows, so the gates and GET /parity
 * judge the traffic of every replica on the store, not of one. The workers
 * of one cluster already share through their primary and carry one replica
 * id, so they skip each other's notifications here.
 *
 * Best effort, as counts are: a replica cut off from the store misses what
 * the others counted meanwhile (its gates then judge by less evidence,
 * never by wrong evidence), and what it counted itself is not sent again.
 */
export class ParityExchange {
  private listening: Listening | null = null;
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(
    private readonly url: string,
    readonly replica: string,
    private readonly onCounts: (deltas: ParityDelta[]) => void,
    private readonly reconnectMs = 1000,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 10_000 });
    this.pool.on('error', () => {}); // an idle connection lost: the next publish opens another
  }

  /** Listens from now on (again after a lost connection, every reconnectMs). */
  start(): void {
    if (!this.closed) this.listening ??= listen(this.url, PARITY_CHANNEL, (payload) => this.receive(payload), this.reconnectMs);
  }

  /** Sends this replica's counts to the others; rejects when the store cannot be reached (the counts are then not shared). */
  async publish(deltas: readonly ParityDelta[]): Promise<void> {
    if (deltas.length === 0 || this.closed) return;
    for (const payload of payloads(this.replica, deltas)) await this.pool.query('SELECT pg_notify($1, $2)', [PARITY_CHANNEL, payload]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listening?.close();
    await this.pool.end().catch(() => {});
  }

  private receive(text: string): void {
    const deltas = parsePayload(text, this.replica);
    if (deltas.length > 0) this.onCounts(deltas);
  }
}

/** The counts as notification payloads, each under MAX_PAYLOAD bytes (a single delta is never split). */
export function payloads(replica: string, deltas: readonly ParityDelta[]): string[] {
  const out: string[] = [];
  const head = `{"r":${JSON.stringify(replica)},"d":[`;
  const headBytes = Buffer.byteLength(head) + 2;
  let body: string[] = [];
  let size = headBytes;
  for (const d of deltas) {
    const item = JSON.stringify([d.route, d.tenant, Math.floor(d.atMs / 1000), d.counts]);
    // Bytes, not characters: a tenant or route named in another script takes more than one byte a character.
    const bytes = Buffer.byteLength(item) + 1;
    if (body.length > 0 && size + bytes > MAX_PAYLOAD) {
      out.push(`${head}${body.join(',')}]}`);
      body = [];
      size = headBytes;
    }
    body.push(item);
    size += bytes;
  }
  if (body.length > 0) out.push(`${head}${body.join(',')}]}`);
  return out;
}

const COUNT_KEYS = new Set<keyof Counts>(['samples', 'mismatches', 'noiseFiltered', 'noiseDiscarded', 'shadowErrors', 'primaryErrors', 'served', 'servedErrors', 'primaryMs', 'shadowMs']);

/**
 * Another replica's counts from a notification; nothing for this replica's
 * own, and nothing from a payload that is not one (anyone can NOTIFY on the
 * channel: a malformed entry is dropped, never added).
 */
export function parsePayload(text: string, self: string): ParityDelta[] {
  let p: Payload;
  try {
    p = JSON.parse(text) as Payload;
  } catch {
    return [];
  }
  if (p === null || typeof p !== 'object' || typeof p.r !== 'string' || p.r === self || !Array.isArray(p.d)) return [];
  const out: ParityDelta[] = [];
  for (const e of p.d) {
    if (!Array.isArray(e) || e.length !== 4) continue;
    const [route, tenant, second, counts] = e;
    if (typeof route !== 'string' || typeof tenant !== 'string' || !Number.isInteger(second) || counts === null || typeof counts !== 'object') continue;
    const clean: Partial<Counts> = {};
    let ok = true;
    for (const [k, v] of Object.entries(counts)) {
      if (!COUNT_KEYS.has(k as keyof Counts) || typeof v !== 'number' || !Number.isFinite(v) || v < 0) ok = false;
      else clean[k as keyof Counts] = v;
    }
    if (ok) out.push({ route, tenant, atMs: second * 1000, counts: clean });
  }
  return out;
}
