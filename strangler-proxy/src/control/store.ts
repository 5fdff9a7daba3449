import pg from 'pg';
import { ensureDatabase, migrate } from '@strangler/migrations';
import { redactUrl } from '@strangler/common';
import type { ModeSetting } from '../config/schema';
import { ProxyError } from '../errors';
import { declaredScopes, type ModeOverrides, sameSetting } from '../routes/modes';
import type { CompiledRoute } from '../routes/table';
import type { GateControls } from '../parity/gates';
import type { MismatchRecord } from '../parity/shadow-parity';
import { listen, type Listening } from './listen';
import { OwnershipStore, REV_SQL, type OwnershipSnapshot } from './ownership-store';
import { HistoryStore } from './history-store';

export type ChangeSource = 'file' | 'api' | 'rollback' | 'gate';

/** One row of the audit log. `next: null` means the scope went back to inheriting. */
export interface RouteChange {
  readonly id: number;
  readonly routeId: string;
  readonly scope: string;
  readonly previous: ModeSetting | null;
  readonly next: ModeSetting | null;
  readonly actor: string;
  readonly reason: string;
  readonly source: ChangeSource;
  readonly at: string;
}

export interface ModeSnapshot {
  /** The newest change id included: replicas compare it to know they are current. */
  readonly version: number;
  readonly overrides: ModeOverrides;
  /** Write ownership of domains, read in the same transaction. */
  readonly ownership: OwnershipSnapshot;
}

export interface SetModeRequest {
  readonly routeId: string;
  readonly scope: string;
  readonly setting: ModeSetting | null;
  readonly actor: string;
  readonly reason: string;
  readonly source: ChangeSource;
}

const CHANNEL = 'strangler_route_changes';
const LOCK = "pg_advisory_xact_lock(hashtext('strangler.route_modes'))";

/**
 * The control store on PostgreSQL: route modes, what the file declared, and
 * the audit log. Writers serialise on one advisory lock and NOTIFY in the
 * same transaction; every replica LISTENs and also polls the newest change
 * id, so a lost notification costs at most one poll interval.
 */
export class ControlStore {
  private listening: Listening | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private known = 0;
  private knownRev = 0;
  private closed = false;
  /** Write ownership of domains: who owns them, hand-overs, proxy processes. */
  readonly ownership: OwnershipStore;
  /** The figures over time: charts and progress. */
  readonly figures: HistoryStore;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
  ) {
    this.ownership = new OwnershipStore(pool, CHANNEL);
    this.figures = new HistoryStore(pool);
  }

  /**
   * Connects to the control store; with `prepare` (the config's
   * controlStore.prepare, on by default) first creates its database when it
   * does not exist and the role may, and brings its tables up to date
   * (knex's lock lets replicas starting together do it once).
   */
  static async open(url: string, options: { prepare?: boolean } = {}): Promise<ControlStore> {
    if (options.prepare) await prepareStore(url);
    const pool = new pg.Pool({ connectionString: url, max: 4, idleTimeoutMillis: 10_000 });
    pool.on('error', () => {}); // idle client errors surface on the next query instead
    try {
      const { rows } = await pool.query<{ ok: boolean; owned: boolean; history: boolean }>(
        "SELECT to_regclass('public.route_modes') IS NOT NULL AS ok, to_regclass('public.domain_owners') IS NOT NULL AS owned, to_regclass('public.metric_history') IS NOT NULL AS history",
      );
      const missing = !rows[0]?.ok ? 'route_modes' : !rows[0]?.owned ? 'domain_owners' : !rows[0]?.history ? 'metric_history' : null;
      if (missing !== null) {
        throw new ProxyError(
          'STR_ERR_CONTROL_STORE_NOT_MIGRATED',
          `the control store has no ${missing} table: set controlStore.prepare: true (the default) to let the proxy prepare it, or run \`npm run migrate -- latest control --database-url ${redactUrl(url)}\` first`,
          { context: { url: redactUrl(url) } },
        );
      }
    } catch (err) {
      await pool.end();
      if (err instanceof ProxyError) throw err;
      throw new ProxyError('STR_ERR_CONTROL_STORE_UNAVAILABLE', `cannot reach the control store at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err, retriable: true });
    }
    return new ControlStore(pool, url);
  }

  /** Calls `onChange` (coalescing is the caller's) on every notification and on every poll that sees a newer change. */
  watch(pollMs: number, onChange: () => void): void {
    if (this.closed) return;
    this.listening ??= listen(this.url, CHANNEL, () => onChange(), pollMs);
    const poll = async () => {
      try {
        const { rows } = await this.pool.query<{ v: string | null; o: string }>(`SELECT (SELECT max(id) FROM route_changes) AS v, (${REV_SQL.replace(/ AS v$/, '')}) AS o`);
        if (Number(rows[0]?.v ?? 0) > this.known || Number(rows[0]?.o ?? 0) > this.knownRev) onChange();
      } catch {
        // The store is away: keep routing by the last snapshot; the next poll retries.
      }
      if (!this.closed) this.pollTimer = setTimeout(() => void poll(), pollMs).unref();
    };
    this.pollTimer = setTimeout(() => void poll(), pollMs).unref();
  }

  async snapshot(): Promise<ModeSnapshot> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const v = await client.query<{ v: string | null }>('SELECT max(id) AS v FROM route_changes');
      const { rows } = await client.query<{ route_id: string; scope: string; mode: ModeSetting['mode']; percent: string | null }>(
        'SELECT route_id, scope, mode, percent FROM route_modes',
      );
      const ownership = await this.ownership.snapshot(client);
      await client.query('COMMIT');
      const overrides = new Map<string, Map<string, ModeSetting>>();
      for (const r of rows) {
        let m = overrides.get(r.route_id);
        if (!m) overrides.set(r.route_id, (m = new Map()));
        m.set(r.scope, Object.freeze(r.percent === null ? { mode: r.mode } : { mode: r.mode, percent: Number(r.percent) }));
      }
      const version = Number(v.rows[0]?.v ?? 0);
      this.known = Math.max(this.known, version);
      this.knownRev = Math.max(this.knownRev, ownership.rev);
      return { version, overrides, ownership };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw unavailable(err);
    } finally {
      client.release();
    }
  }

  /**
   * Writes what the file declares, but only where it differs from what the
   * file declared last time: a reload never undoes a flip made by command
   * unless the file itself changed that route and scope.
   */
  async syncDeclared(routes: readonly CompiledRoute[], actor: string): Promise<RouteChange[]> {
    return this.tx(async (c) => {
      const { rows } = await c.query<{ route_id: string; scope: string; mode: ModeSetting['mode']; percent: string | null }>(
        'SELECT route_id, scope, mode, percent FROM declared_modes',
      );
      const before = new Map(rows.map((r) => [`${r.route_id}\u0000${r.scope}`, toSetting(r.mode, r.percent)]));
      const changes: RouteChange[] = [];
      for (const route of routes) {
        const scopes = declaredScopes(route);
        for (const [scope, setting] of scopes) {
          const key = `${route.id}\u0000${scope}`;
          const last = before.get(key);
          before.delete(key);
          if (sameSetting(last, setting)) continue;
          await c.query(
            `INSERT INTO declared_modes (route_id, scope, mode, percent) VALUES ($1,$2,$3,$4)
             ON CONFLICT (route_id, scope) DO UPDATE SET mode = excluded.mode, percent = excluded.percent`,
            [route.id, scope, setting.mode, setting.percent ?? null],
          );
          changes.push(await this.write(c, { routeId: route.id, scope, setting, actor, reason: last ? 'changed in the config file' : 'declared in the config file', source: 'file' }));
        }
      }
      // Scopes the file no longer declares, for routes it still has: back to inheriting.
      const live = new Set(routes.map((r) => r.id));
      for (const key of before.keys()) {
        const [routeId, scope] = key.split('\u0000') as [string, string];
        if (!live.has(routeId)) continue;
        await c.query('DELETE FROM declared_modes WHERE route_id = $1 AND scope = $2', [routeId, scope]);
        changes.push(await this.write(c, { routeId, scope, setting: null, actor, reason: 'removed from the config file', source: 'file' }));
      }
      return changes;
    });
  }

  async setMode(req: SetModeRequest): Promise<RouteChange> {
    return this.tx((c) => this.write(c, req));
  }

  /** Writes only if the scope's stored setting is still `expected` (null: none); null when it was not. */
  async setModeIf(req: SetModeRequest, expected: ModeSetting | null): Promise<RouteChange | null> {
    return this.tx(async (c) => {
      const cur = await c.query<{ mode: ModeSetting['mode']; percent: string | null }>('SELECT mode, percent FROM route_modes WHERE route_id = $1 AND scope = $2', [req.routeId, req.scope]);
      const now = cur.rows[0] ? toSetting(cur.rows[0].mode, cur.rows[0].percent) : null;
      if (!sameSetting(now, expected)) return null;
      return this.write(c, req);
    });
  }

  /** Stores a sampled mismatch, then drops the oldest of its route and tenant beyond the newest `keep`. */
  async recordMismatch(m: MismatchRecord, keep: number): Promise<void> {
    try {
      await this.pool.query(
        'INSERT INTO parity_mismatches (route_id, tenant, request, primary_response, shadow_response, differences) VALUES ($1, $2, $3, $4, $5, $6)',
        [m.routeId, m.tenant, JSON.stringify(m.request), JSON.stringify(m.primary), JSON.stringify(m.shadow), JSON.stringify(m.differences)],
      );
      await this.pool.query(
        'DELETE FROM parity_mismatches WHERE route_id = $1 AND tenant = $2 AND id <= (SELECT id FROM parity_mismatches WHERE route_id = $1 AND tenant = $2 ORDER BY id DESC OFFSET $3 LIMIT 1)',
        [m.routeId, m.tenant, keep],
      );
    } catch (err) {
      throw unavailable(err);
    }
  }

  async mismatches(routeId: string | null, tenant: string | null, limit = 50): Promise<Array<MismatchRecord & { id: number; at: string }>> {
    try {
      const { rows } = await this.pool.query<{ id: string; at: Date; route_id: string; tenant: string; request: MismatchRecord['request']; primary_response: MismatchRecord['primary']; shadow_response: MismatchRecord['shadow']; differences: MismatchRecord['differences'] }>(
        `SELECT * FROM parity_mismatches WHERE ($1::text IS NULL OR route_id = $1) AND ($2::text IS NULL OR tenant = $2) ORDER BY id DESC LIMIT $3`,
        [routeId, tenant, limit],
      );
      return rows.map((r) => ({ id: Number(r.id), at: r.at.toISOString(), routeId: r.route_id, tenant: r.tenant, request: r.request, primary: r.primary_response, shadow: r.shadow_response, differences: r.differences }));
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Gate switches: '*' pauses every gate; '<route>' or '<route>:<tenant>' freezes. */
  async gateControls(): Promise<GateControls & { readonly entries: ReadonlyArray<{ scope: string; actor: string; reason: string; at: string }> }> {
    try {
      const { rows } = await this.pool.query<{ scope: string; actor: string; reason: string; at: Date }>('SELECT scope, actor, reason, at FROM gate_controls ORDER BY scope');
      return {
        paused: rows.some((r) => r.scope === '*'),
        frozen: new Set(rows.filter((r) => r.scope !== '*').map((r) => r.scope)),
        entries: rows.map((r) => ({ scope: r.scope, actor: r.actor, reason: r.reason, at: r.at.toISOString() })),
      };
    } catch (err) {
      throw unavailable(err);
    }
  }

  async setGateControl(scope: string, on: boolean, actor: string, reason: string): Promise<void> {
    try {
      if (on) {
        await this.pool.query('INSERT INTO gate_controls (scope, actor, reason) VALUES ($1, $2, $3) ON CONFLICT (scope) DO UPDATE SET actor = excluded.actor, reason = excluded.reason, at = now()', [scope, actor, reason]);
      } else {
        await this.pool.query('DELETE FROM gate_controls WHERE scope = $1', [scope]);
      }
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Restores the state before the newest change of this route and scope, as a change of its own. */
  async rollback(routeId: string, scope: string, actor: string, reason: string): Promise<RouteChange> {
    return this.tx(async (c) => {
      const { rows } = await c.query<ChangeRow>(
        `SELECT * FROM route_changes WHERE route_id = $1 AND scope = $2 ORDER BY id DESC LIMIT 1`,
        [routeId, scope],
      );
      const last = rows[0];
      if (!last) {
        throw new ProxyError('STR_ERR_ROUTE_NO_HISTORY', `route ${routeId} has no change to roll back${scope === '*' ? '' : ` for tenant ${scope}`}`, { status: 409 });
      }
      return this.write(c, { routeId, scope, setting: last.previous, actor, reason: reason || `rollback of change ${last.id}`, source: 'rollback' });
    });
  }

  async history(routeId: string, limit = 50): Promise<RouteChange[]> {
    try {
      const { rows } = await this.pool.query<ChangeRow>('SELECT * FROM route_changes WHERE route_id = $1 ORDER BY id DESC LIMIT $2', [routeId, limit]);
      return rows.map(toChange);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    await this.listening?.close();
    await this.pool.end().catch(() => {});
  }

  private async write(c: pg.PoolClient, req: SetModeRequest): Promise<RouteChange> {
    const cur = await c.query<{ mode: ModeSetting['mode']; percent: string | null }>('SELECT mode, percent FROM route_modes WHERE route_id = $1 AND scope = $2', [req.routeId, req.scope]);
    const previous = cur.rows[0] ? toSetting(cur.rows[0].mode, cur.rows[0].percent) : null;
    const { rows } = await c.query<ChangeRow>(
      `INSERT INTO route_changes (route_id, scope, previous, next, actor, reason, source) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING *`,
      [req.routeId, req.scope, previous && JSON.stringify(previous), req.setting && JSON.stringify(req.setting), req.actor, req.reason, req.source],
    );
    const change = toChange(rows[0]!);
    if (req.setting === null) {
      await c.query('DELETE FROM route_modes WHERE route_id = $1 AND scope = $2', [req.routeId, req.scope]);
    } else {
      await c.query(
        `INSERT INTO route_modes (route_id, scope, mode, percent, change_id, updated_at) VALUES ($1,$2,$3,$4,$5, now())
         ON CONFLICT (route_id, scope) DO UPDATE SET mode = excluded.mode, percent = excluded.percent, change_id = excluded.change_id, updated_at = now()`,
        [req.routeId, req.scope, req.setting.mode, req.setting.percent ?? null, change.id],
      );
    }
    await c.query('SELECT pg_notify($1, $2)', [CHANNEL, String(change.id)]);
    return change;
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    try {
      await client.query('BEGIN');
      await client.query(`SELECT ${LOCK}`);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err instanceof ProxyError ? err : unavailable(err);
    } finally {
      client.release();
    }
  }
}

interface ChangeRow {
  id: string;
  route_id: string;
  scope: string;
  previous: ModeSetting | null;
  next: ModeSetting | null;
  actor: string;
  reason: string;
  source: ChangeSource;
  at: Date;
}

function toChange(r: ChangeRow): RouteChange {
  return Object.freeze({ id: Number(r.id), routeId: r.route_id, scope: r.scope, previous: r.previous, next: r.next, actor: r.actor, reason: r.reason, source: r.source, at: r.at.toISOString() });
}

function toSetting(mode: ModeSetting['mode'], percent: string | null): ModeSetting {
  return percent === null ? { mode } : { mode, percent: Number(percent) };
}

function unavailable(err: unknown): ProxyError {
  return new ProxyError('STR_ERR_CONTROL_STORE_UNAVAILABLE', `control store: ${(err as Error).message}`, { status: 503, cause: err, retriable: true });
}

/** Creates the control store's database when missing (and allowed), then migrates it. */
async function prepareStore(url: string): Promise<void> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new ProxyError('STR_ERR_CONTROL_STORE_UNAVAILABLE', `controlStore.url is not a PostgreSQL URL: ${redactUrl(url)} (postgresql://user@host:5432/database)`);
  }
  const name = decodeURIComponent(target.pathname.slice(1));
  const server = new URL(target);
  server.pathname = '/postgres';
  try {
    await ensureDatabase(server.toString(), name);
  } catch (err) {
    const e = err as Error & { code?: string };
    // The role may not create databases, or may not reach `postgres`: the store may exist all the same; migrating says.
    if (e.code !== '42501' && e.code !== '3D000' && e.code !== '28000' && e.code !== '28P01') {
      throw new ProxyError('STR_ERR_CONTROL_STORE_UNAVAILABLE', `cannot reach the control store's server at ${redactUrl(server.toString())}: ${e.message}`, { cause: err, retriable: true });
    }
  }
  try {
    await migrate('control', url);
  } catch (err) {
    const cause = (err as { cause?: Error & { code?: string } }).cause;
    if (cause?.code === '3D000') {
      throw new ProxyError('STR_ERR_CONTROL_STORE_UNAVAILABLE', `the control store's database ${name} does not exist and its role may not create it: CREATE DATABASE "${name}"; as a role that may (or give this one CREATEDB), then start again`, { cause: err });
    }
    throw new ProxyError('STR_ERR_CONTROL_STORE_UNAVAILABLE', `could not prepare the control store at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err, retriable: true });
  }
}
