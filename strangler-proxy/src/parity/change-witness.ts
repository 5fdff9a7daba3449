import pg from 'pg';

/**
 * Whether a tenant's data may have changed between two moments: what noise
 * learning asks before it believes that two monolith answers differ by
 * themselves. Two witnesses, both conservative (a doubt counts as a change):
 *
 * - the writes this process forwarded for the tenant (WriteLedger): a write
 *   begun since the first moment, or in flight at it, is a change. Free and
 *   always on; it sees the writes that pass through this process only;
 * - the tenant database's own position, when the config names the database
 *   (`tenants.<t>.database`): PostgreSQL's current snapshot
 *   (`pg_current_snapshot()`: the oldest running transaction, the next id,
 *   those in progress), which moves with every commit of a transaction that
 *   wrote, whoever wrote it (another proxy replica, a batch job, a trigger),
 *   and never with a read. It is the server's, not the database's: on a
 *   server shared with other busy databases, more pairs are discarded.
 */

/** Per-tenant write counters in shared memory: the data plane counts, the shadow thread reads. */
export class WriteLedger {
  /** Tenants hash into this many slots; two tenants sharing one only see each other's writes as changes (safe). */
  static readonly SLOTS = 256;
  readonly buffer: SharedArrayBuffer;
  private readonly counters: Int32Array;
  private readonly slots = new Map<string, number>();

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(WriteLedger.SLOTS * 2 * Int32Array.BYTES_PER_ELEMENT);
    this.counters = new Int32Array(this.buffer);
  }

  /** A write to the tenant begins; returns the slot to hand to end(). */
  begin(tenant: string): number {
    const s = this.slot(tenant);
    Atomics.add(this.counters, 2 * s, 1);
    Atomics.add(this.counters, 2 * s + 1, 1);
    return s;
  }

  /** The write answered (or failed): no longer in flight. */
  end(slot: number): void {
    Atomics.sub(this.counters, 2 * slot + 1, 1);
  }

  mark(tenant: string): WritesMark {
    const s = this.slot(tenant);
    return { begun: Atomics.load(this.counters, 2 * s), inFlight: Atomics.load(this.counters, 2 * s + 1) };
  }

  private slot(tenant: string): number {
    let s = this.slots.get(tenant);
    if (s === undefined) {
      let h = 0x811c9dc5;
      for (let i = 0; i < tenant.length; i++) h = Math.imul(h ^ tenant.charCodeAt(i), 0x01000193);
      s = (h >>> 0) % WriteLedger.SLOTS;
      this.slots.set(tenant, s);
    }
    return s;
  }
}

export interface WritesMark {
  readonly begun: number;
  readonly inFlight: number;
}

/** One moment as the witnesses saw it. `database` is null without a database, 'unknown' when it could not be read. */
export interface ChangeMark {
  readonly writes: WritesMark | null;
  readonly database: string | null;
}

/** True unless both witnesses say nothing changed from `before` to `after` (pure: tested as a table). */
export function changedBetween(before: ChangeMark, after: ChangeMark): boolean {
  if (before.writes && after.writes && (before.writes.inFlight > 0 || after.writes.begun !== before.writes.begun)) return true;
  if (before.database === 'unknown' || after.database === 'unknown') return true;
  return before.database !== after.database;
}

/** Reads a database's position: a small pool per database (copies ask at once), opened on first use; a failed read is 'unknown'. */
export class DatabasePositions {
  private readonly pools = new Map<string, pg.Pool>();

  /** The position, or 'unknown' when the database cannot be asked (counted as a change by the caller). */
  async read(url: string): Promise<string> {
    try {
      const r = await this.pool(url).query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
      return r.rows[0]?.s ?? 'unknown';
    } catch {
      return 'unknown';
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.end().catch(() => undefined)));
  }

  private pool(url: string): pg.Pool {
    let p = this.pools.get(url);
    if (!p) {
      p = new pg.Pool({ connectionString: url, max: 2, idleTimeoutMillis: 30_000, application_name: 'strangler-parity-noise', connectionTimeoutMillis: 2_000, query_timeout: 2_000 });
      p.on('error', () => {}); // an idle connection lost: the pool opens another on the next read
      this.pools.set(url, p);
    }
    return p;
  }
}

/** Both witnesses for a set of tenants. */
export class ChangeWitness {
  constructor(
    private readonly ledger: WriteLedger | null,
    private readonly databases: DatabasePositions,
    private readonly databaseOf: (tenant: string) => string | null,
  ) {}

  async mark(tenant: string): Promise<ChangeMark> {
    const url = this.databaseOf(tenant);
    // The database first: a write that commits while it is read is then still seen by the ledger.
    const database = url === null ? null : await this.databases.read(url);
    return { writes: this.ledger?.mark(tenant) ?? null, database };
  }

  close(): Promise<void> {
    return this.databases.close();
  }
}
