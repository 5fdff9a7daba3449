import type pg from 'pg';
import { OwnershipError, type HandoverControl, type Owner } from '@strangler/ownership';
import { ProxyError } from '../errors';

/** Who owns one domain for one tenant, and the hand-over running for it, as a proxy routes by them. */
export interface DomainOwnership {
  readonly domain: string;
  readonly tenant: string;
  readonly owner: Owner;
  readonly epoch: number;
  /** The hand-over running, if any: its id, direction, step and the time its hold ends (ms since the epoch). */
  readonly handover: { readonly id: number; readonly to: Owner; readonly step: string; readonly holdUntil: number | null; readonly leaseUntil: number } | null;
}

export interface OwnershipSnapshot {
  /** ownership_rev when read: replicas compare it to know they are current. */
  readonly rev: number;
  readonly entries: readonly DomainOwnership[];
}

export interface HandoverRecord {
  readonly id: number;
  readonly domain: string;
  readonly tenant: string;
  readonly from: Owner;
  readonly to: Owner;
  readonly status: 'running' | 'done' | 'aborted';
  readonly step: string;
  readonly actor: string;
  readonly reason: string;
  readonly forced: boolean;
  readonly runner: string;
  readonly steps: ReadonlyArray<{ step: string; at: string } & Record<string, unknown>>;
  readonly figures: Record<string, unknown>;
  readonly error: string | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
}

/** The newest ownership revision committed. */
export const REV_SQL = 'SELECT greatest((SELECT max(rev) FROM domain_owners), (SELECT max(rev) FROM handovers), 0)::text AS v';
const LOCK = "pg_advisory_xact_lock(hashtext('strangler.ownership'))";

/** How long a process counts as live after its last beat. */
export const LIVE_MS = 3_000;
/** How long a runner's lease lasts past its last step; another process takes the hand-over up after it. */
export const LEASE_MS = 10_000;

/**
 * Write ownership in the control store (migration control/003): who owns
 * each domain per tenant, the hand-overs, the proxy processes and their
 * acknowledgements of a hold. Every change bumps ownership_rev and NOTIFYs
 * on the route channel, so replicas read it again within a poll at worst.
 * Implements the control store's side of a hand-over (HandoverControl) for
 * a runner named `runner`.
 */
export class OwnershipStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly channel: string,
  ) {}

  async snapshot(c: pg.PoolClient | pg.Pool = this.pool): Promise<OwnershipSnapshot> {
    // The newest revision committed, read with the rows (a sequence's last_value would count one not yet committed).
    const rev = await c.query<{ v: string }>(REV_SQL);
    const owners = await c.query<{ domain: string; tenant: string; owner: Owner; epoch: string }>('SELECT domain, tenant, owner, epoch FROM domain_owners');
    const running = await c.query<{ id: string; domain: string; tenant: string; to_owner: Owner; step: string; hold_until: Date | null; lease_until: Date }>(
      "SELECT id, domain, tenant, to_owner, step, hold_until, lease_until FROM handovers WHERE status = 'running'",
    );
    const key = (d: string, t: string) => `${d}\u0000${t}`;
    const byKey = new Map<string, DomainOwnership>();
    for (const o of owners.rows) byKey.set(key(o.domain, o.tenant), { domain: o.domain, tenant: o.tenant, owner: o.owner, epoch: Number(o.epoch), handover: null });
    for (const h of running.rows) {
      const k = key(h.domain, h.tenant);
      const base = byKey.get(k) ?? { domain: h.domain, tenant: h.tenant, owner: 'monolith' as Owner, epoch: 0, handover: null };
      byKey.set(k, { ...base, handover: { id: Number(h.id), to: h.to_owner, step: h.step, holdUntil: h.hold_until?.getTime() ?? null, leaseUntil: h.lease_until.getTime() } });
    }
    return { rev: Number(rev.rows[0]?.v ?? 0), entries: [...byKey.values()].map((e) => Object.freeze(e)) };
  }

  /** The store's side of one runner's hand-over. */
  control(runner: string): HandoverControl {
    return {
      owner: async (domain, tenant) => {
        const r = await this.pool.query<{ owner: Owner; epoch: string }>('SELECT owner, epoch FROM domain_owners WHERE domain = $1 AND tenant = $2', [domain, tenant]);
        return r.rows[0] ? { owner: r.rows[0].owner, epoch: Number(r.rows[0].epoch) } : { owner: 'monolith', epoch: 0 };
      },
      begin: async (h) =>
        this.tx(async (c) => {
          const r = await c
            .query<{ id: string }>(
              `INSERT INTO handovers (domain, tenant, from_owner, to_owner, status, step, actor, reason, forced, runner, lease_until)
               VALUES ($1, $2, $3, $4, 'running', 'preflight', $5, $6, $7, $8, now() + make_interval(secs => $9::double precision / 1000)) RETURNING id`,
              [h.domain, h.tenant, h.from, h.to, h.actor, h.reason, h.forced, runner, LEASE_MS],
            )
            .catch((err: { code?: string }) => {
              if (err.code === '23505') throw new OwnershipError('STR_ERR_OWNERSHIP_BUSY', `a hand-over of ${h.domain} for ${h.tenant} is already running: see strangler own status`, { retriable: true });
              throw err;
            });
          return Number(r.rows[0]!.id);
        }),
      record: async (id, step, figures, holdUntilMs) => {
        await this.tx(async (c) => {
          await c.query(
            `UPDATE handovers SET step = $2, steps = steps || jsonb_build_array($3::jsonb || jsonb_build_object('step', $2::text, 'at', now())),
               hold_until = COALESCE(to_timestamp($4::double precision / 1000), hold_until),
               lease_until = now() + make_interval(secs => $5::double precision / 1000), rev = nextval('ownership_rev')
             WHERE id = $1`,
            [id, step, JSON.stringify(figures), holdUntilMs ?? null, LEASE_MS],
          );
        });
      },
      drained: async (id, timeoutMs) => {
        const t0 = Date.now();
        for (;;) {
          const r = await this.pool.query<{ live: string; missing: string[] }>(
            `SELECT count(*)::text AS live, coalesce(array_agg(p.id) FILTER (WHERE a.process IS NULL), '{}') AS missing
               FROM proxy_processes p LEFT JOIN handover_acks a ON a.handover_id = $1 AND a.process = p.id
              WHERE p.beat_at > now() - make_interval(secs => $2::double precision / 1000)`,
            [id, LIVE_MS],
          );
          const row = r.rows[0]!;
          if (row.missing.length === 0) return { processes: Number(row.live) };
          if (Date.now() - t0 > timeoutMs) {
            throw new OwnershipError('STR_ERR_OWNERSHIP_TIMEOUT', `proxy processes ${row.missing.join(', ')} did not finish their writes in flight within ${timeoutMs} ms (timeouts.drainMs)`, { retriable: true, context: { missing: row.missing } });
          }
          await new Promise((res) => setTimeout(res, 3));
        }
      },
      flip: async (id, to, epoch) => {
        await this.tx(async (c) => {
          const h = await c.query<{ domain: string; tenant: string; ok: boolean; status: string }>(
            "SELECT domain, tenant, status, (status = 'running' AND (hold_until IS NULL OR hold_until > now())) AS ok FROM handovers WHERE id = $1 FOR UPDATE",
            [id],
          );
          const row = h.rows[0];
          if (!row?.ok) throw new OwnershipError('STR_ERR_OWNERSHIP_TIMEOUT', `hand-over ${id} ${row?.status === 'running' ? 'held writes past its hold.maxMs' : `is ${row?.status ?? 'gone'}`}: not flipped`);
          await c.query(
            `INSERT INTO domain_owners (domain, tenant, owner, epoch) VALUES ($1, $2, $3, $4)
             ON CONFLICT (domain, tenant) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch, rev = nextval('ownership_rev'), updated_at = now()`,
            [row.domain, row.tenant, to, epoch],
          );
          await c.query(
            `UPDATE handovers SET step = 'flip', steps = steps || jsonb_build_array(jsonb_build_object('step', 'flip', 'at', now(), 'owner', $2::text, 'epoch', $3::bigint)), rev = nextval('ownership_rev') WHERE id = $1`,
            [id, to, epoch],
          );
        });
      },
      end: async (id, status, figures, error) => {
        await this.tx(async (c) => {
          await c.query(
            `UPDATE handovers SET status = $2, step = CASE WHEN $2 = 'done' THEN 'done' ELSE step END, figures = figures || $3::jsonb, error = $4, finished_at = now(), rev = nextval('ownership_rev') WHERE id = $1`,
            [id, status, JSON.stringify(figures), error],
          );
        });
      },
    };
  }

  /** This process holds the domain's writes of the hand-over and has none in flight. */
  async ack(handoverId: number, process: string): Promise<void> {
    await this.pool.query('INSERT INTO handover_acks (handover_id, process) VALUES ($1, $2) ON CONFLICT DO NOTHING', [handoverId, process]);
  }

  async beat(process: string, host: string): Promise<void> {
    await this.pool.query(
      'INSERT INTO proxy_processes (id, pid, host) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET beat_at = now()',
      [process, globalThis.process.pid, host],
    );
  }

  async leave(process: string): Promise<void> {
    await this.pool.query('DELETE FROM proxy_processes WHERE id = $1', [process]);
  }

  /** Takes over a running hand-over whose runner's lease ran out (null when none, or another took it). */
  async takeOver(runner: string): Promise<HandoverRecord | null> {
    return this.tx(async (c) => {
      const r = await c.query<HandoverRow>(
        `UPDATE handovers SET runner = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000), rev = nextval('ownership_rev')
          WHERE id = (SELECT id FROM handovers WHERE status = 'running' AND lease_until < now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING *`,
        [runner, LEASE_MS],
      );
      return r.rows[0] ? toRecord(r.rows[0]) : null;
    });
  }

  async handovers(domain: string | null, tenant: string | null, limit: number): Promise<HandoverRecord[]> {
    const r = await this.pool.query<HandoverRow>(
      'SELECT * FROM handovers WHERE ($1::text IS NULL OR domain = $1) AND ($2::text IS NULL OR tenant = $2) ORDER BY id DESC LIMIT $3',
      [domain, tenant, limit],
    );
    return r.rows.map(toRecord);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (err) {
      throw new ProxyError('STR_ERR_CONTROL_STORE_UNAVAILABLE', `control store: ${(err as Error).message}`, { status: 503, cause: err, retriable: true });
    }
    try {
      await c.query('BEGIN');
      // Writers one at a time: revisions are then committed in their order, and a reader that saw one has seen every lower one.
      await c.query(`SELECT ${LOCK}`);
      const out = await fn(c);
      await c.query('SELECT pg_notify($1, $2)', [this.channel, 'ownership']);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }
}

interface HandoverRow {
  id: string;
  domain: string;
  tenant: string;
  from_owner: Owner;
  to_owner: Owner;
  status: HandoverRecord['status'];
  step: string;
  actor: string;
  reason: string;
  forced: boolean;
  runner: string;
  steps: HandoverRecord['steps'];
  figures: Record<string, unknown>;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

function toRecord(r: HandoverRow): HandoverRecord {
  return {
    id: Number(r.id),
    domain: r.domain,
    tenant: r.tenant,
    from: r.from_owner,
    to: r.to_owner,
    status: r.status,
    step: r.step,
    actor: r.actor,
    reason: r.reason,
    forced: r.forced,
    runner: r.runner,
    steps: r.steps,
    figures: r.figures,
    error: r.error,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}
