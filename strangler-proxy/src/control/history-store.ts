import type pg from 'pg';
import type { Kind } from '../history/layouts';
import { RESOLUTIONS } from '../history/windows';

/** One row of metric_history as the recorder adds it and the charts read it. */
export interface HistoryRow {
  readonly resolutionS: number;
  readonly atMs: number;
  readonly kind: Kind;
  readonly subject: string;
  readonly tenant: string;
  readonly target: string;
  readonly v: readonly number[];
}

/** What happened on the control plane, drawn as a mark on the charts. */
export interface HistoryMark {
  readonly atMs: number;
  readonly kind: 'flip' | 'gate' | 'rollback' | 'file' | 'handover';
  readonly route: string | null;
  readonly domain: string | null;
  /** A tenant, or '*' for every tenant. */
  readonly tenant: string;
  readonly text: string;
}

/**
 * The proxy's figures over time in the control store (table metric_history,
 * migrations/src/control/004_history.ts). add() merges in one statement: a
 * row another process already wrote for the same bucket is added to (counts)
 * or kept at the larger value (gauges), under its row lock, so replicas
 * never overwrite each other.
 */
export class HistoryStore {
  constructor(private readonly pool: pg.Pool) {}

  async add(rows: readonly HistoryRow[]): Promise<void> {
    if (rows.length === 0) return;
    const json = JSON.stringify(rows.map((r) => ({ r: r.resolutionS, at: new Date(r.atMs).toISOString(), k: r.kind, s: r.subject, t: r.tenant, g: r.target, v: r.v })));
    await this.pool.query(
      `INSERT INTO metric_history AS h (resolution_s, at, kind, subject, tenant, target, v)
       SELECT x.r, x.at, x.k, x.s, x.t, x.g, ARRAY(SELECT e::float8 FROM jsonb_array_elements_text(x.v) AS e)
         FROM jsonb_to_recordset($1::jsonb) AS x(r int, at timestamptz, k text, s text, t text, g text, v jsonb)
       ON CONFLICT (resolution_s, kind, subject, tenant, target, at) DO UPDATE SET v = ARRAY(
         SELECT CASE WHEN h.kind = 'freshness' THEN greatest(coalesce(a, 0), coalesce(b, 0)) ELSE coalesce(a, 0) + coalesce(b, 0) END
           FROM unnest(h.v, excluded.v) WITH ORDINALITY AS u(a, b, i) ORDER BY i)`,
      [json],
    );
  }

  /** Deletes each resolution's rows past its retention: the table's bound. */
  async prune(nowMs: number): Promise<number> {
    let deleted = 0;
    for (const r of RESOLUTIONS) {
      const res = await this.pool.query('DELETE FROM metric_history WHERE resolution_s = $1 AND at < $2', [r.seconds, new Date(nowMs - r.keepMs)]);
      deleted += res.rowCount ?? 0;
    }
    return deleted;
  }

  /** Rows of one resolution from a time on, optionally of one kind, subject or tenant. */
  async read(resolutionS: number, fromMs: number, filter: { kind?: Kind; subject?: string; tenant?: string } = {}): Promise<HistoryRow[]> {
    const where = ['resolution_s = $1', 'at >= $2'];
    const args: unknown[] = [resolutionS, new Date(fromMs)];
    if (filter.kind) where.push(`kind = $${args.push(filter.kind)}`);
    if (filter.subject) where.push(`subject = $${args.push(filter.subject)}`);
    if (filter.tenant) where.push(`tenant = $${args.push(filter.tenant)}`);
    const { rows } = await this.pool.query<{ resolution_s: number; at: Date; kind: Kind; subject: string; tenant: string; target: string; v: number[] }>(
      `SELECT resolution_s, at, kind, subject, tenant, target, v FROM metric_history WHERE ${where.join(' AND ')} ORDER BY at`,
      args,
    );
    return rows.map((r) => ({ resolutionS: r.resolution_s, atMs: r.at.getTime(), kind: r.kind, subject: r.subject, tenant: r.tenant, target: r.target, v: r.v }));
  }

  /** Route changes and hand-overs from a time on (the newest `limit` of each), oldest first. */
  async marks(fromMs: number, limit = 2000): Promise<HistoryMark[]> {
    const from = new Date(fromMs);
    const [changes, handovers] = await Promise.all([
      this.pool.query<{ at: Date; route_id: string; scope: string; previous: { mode: string; percent?: number } | null; next: { mode: string; percent?: number } | null; source: string; actor: string; reason: string }>(
        'SELECT at, route_id, scope, previous, next, source, actor, reason FROM route_changes WHERE at >= $1 ORDER BY id DESC LIMIT $2',
        [from, limit],
      ),
      this.pool.query<{ at: Date; domain: string; tenant: string; from_owner: string; to_owner: string; status: string; actor: string; reason: string }>(
        `SELECT coalesce(finished_at, started_at) AS at, domain, tenant, from_owner, to_owner, status, actor, reason FROM handovers
          WHERE coalesce(finished_at, started_at) >= $1 ORDER BY id DESC LIMIT $2`,
        [from, limit],
      ),
    ]);
    // No setting: a tenant's scope inherits the route-wide one; the route-wide scope has the route's default.
    const setting = (s: { mode: string; percent?: number } | null, scope: string) => (s === null ? (scope === '*' ? '(default)' : '(inherited)') : s.mode === 'canary' ? `canary ${s.percent}%` : s.mode);
    const kindOf = (source: string): HistoryMark['kind'] => (source === 'api' ? 'flip' : source === 'gate' ? 'gate' : source === 'rollback' ? 'rollback' : 'file');
    const out: HistoryMark[] = [
      ...changes.rows.map((c) => ({
        atMs: c.at.getTime(),
        kind: kindOf(c.source),
        route: c.route_id,
        domain: null,
        tenant: c.scope,
        text: `${c.route_id}${c.scope === '*' ? '' : ` [${c.scope}]`}: ${setting(c.previous, c.scope)} -> ${setting(c.next, c.scope)} by ${c.actor} (${c.source}): ${c.reason}`,
      })),
      ...handovers.rows.map((h) => ({
        atMs: h.at.getTime(),
        kind: 'handover' as const,
        route: null,
        domain: h.domain,
        tenant: h.tenant,
        text: `${h.domain} [${h.tenant}]: writes ${h.from_owner} -> ${h.to_owner} ${h.status} by ${h.actor}: ${h.reason}`,
      })),
    ];
    return out.sort((a, b) => a.atMs - b.atMs);
  }
}
