import { type DomainSpec, type Owner, undoPlan } from './domain';
import { OwnershipError } from './errors';
import { fence, unfence } from './fence';
import { keyHighWater, watchBackSyncState, keySequences, monolithFence, moveSequencesPast } from './monolith-side';
import { grantToService, probeBackSync, revokeFromService, serviceOwner } from './service-side';

/** What a hand-over asks of the control store (the proxy's ControlStore implements it). */
export interface HandoverControl {
  /** The owner of record and the epoch of its last flip. */
  owner(domain: string, tenant: string): Promise<{ owner: Owner; epoch: number }>;
  /** Records a running hand-over (STR_ERR_OWNERSHIP_BUSY when one runs for the domain and tenant); its id. */
  begin(h: { domain: string; tenant: string; from: Owner; to: Owner; actor: string; reason: string; forced: boolean }): Promise<number>;
  /** Records a step done, with its figures (renewing the runner's lease). `holdUntilMs` (hold): the proxies hold the domain's writes until then at most. */
  record(id: number, step: string, figures: Record<string, unknown>, holdUntilMs?: number): Promise<void>;
  /** Resolves once every live proxy process holds the domain's writes and has none in flight; how many answered. */
  drained(id: number, timeoutMs: number): Promise<{ processes: number }>;
  /** One change: ownership to `to` at `epoch`, the hand-over at step flip. Refused when the hand-over no longer runs or its hold ran out. */
  flip(id: number, to: Owner, epoch: number): Promise<void>;
  /** Ends it: done, or aborted with the error (the holds end with it). */
  end(id: number, status: 'done' | 'aborted', figures: Record<string, unknown>, error: string | null): Promise<void>;
}

/** Where a tenant's data lives, for one domain. */
export interface HandoverEndpoints {
  readonly monolithDb: string;
  readonly serviceDb: string;
  /** The service's GET /freshness (its projector's appliedLsn per tenant). */
  readonly freshnessUrl: string;
}

export interface HandoverRequest {
  readonly domain: DomainSpec;
  readonly tenant: string;
  readonly to: Owner;
  readonly actor: string;
  readonly reason: string;
  /** Past the parity check and the rollback guard (the reason says why). */
  readonly force: boolean;
}

export interface HandoverResult {
  readonly id: number;
  readonly domain: string;
  readonly tenant: string;
  readonly from: Owner;
  readonly to: Owner;
  readonly status: 'done' | 'aborted';
  readonly epoch: number;
  readonly figures: Record<string, unknown>;
  readonly error: string | null;
}

/** Shadow parity of one route for a tenant, as the proxy counts it. */
export interface RouteParity {
  readonly route: string;
  readonly compared: number;
  readonly mismatched: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One hand-over of a domain's writes for one tenant, step by step (the
 * protocol: ownership/README.md). Every step is recorded in the control
 * store before the next begins; a failure or a timeout before the flip
 * undoes what was done and leaves the old owner in place; past the flip it
 * goes forward. `recover` finishes one whose runner died, from its record.
 */
export class Handover {
  constructor(
    private readonly control: HandoverControl,
    private readonly endpoints: (tenant: string) => HandoverEndpoints,
    private readonly parity: (routes: readonly string[], tenant: string) => RouteParity[],
  ) {}

  async run(req: HandoverRequest): Promise<HandoverResult> {
    const { domain, tenant, to } = req;
    const cur = await this.control.owner(domain.name, tenant);
    if (cur.owner === to) {
      throw new OwnershipError('STR_ERR_OWNERSHIP_REFUSED', `the ${to} already owns ${domain.name} for ${tenant} (epoch ${cur.epoch}): nothing to hand over`, { context: { domain: domain.name, tenant, owner: cur.owner } });
    }
    const ep = this.endpoints(tenant);
    const svcRow = await serviceOwner(ep.serviceDb, tenant, domain.name);
    const epoch = Math.max(cur.epoch, svcRow?.epoch ?? 0) + 1;
    const preflight = to === 'service' ? this.parityCheck(req) : await this.rollbackGuard(req, ep);
    const sequences = await keySequences(ep.monolithDb, domain.tables);
    const id = await this.control.begin({ domain: domain.name, tenant, from: cur.owner, to, actor: req.actor, reason: req.reason, forced: req.force });
    const figures: Record<string, unknown> = { epoch, ...preflight };
    const done: string[] = [];
    const step = async (name: string, fn: () => Promise<Record<string, unknown> | void>, holdUntilMs?: number) => {
      const t0 = performance.now();
      const out = (await fn()) ?? {};
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      figures[`${name}Ms`] = ms;
      Object.assign(figures, out);
      done.push(name);
      await this.control.record(id, name, { ms, ...out }, holdUntilMs);
    };
    await this.control.record(id, 'preflight', { epoch, ...preflight });
    done.push('preflight');
    let held = 0;
    try {
      held = performance.now();
      const holdUntil = Date.now() + domain.hold.maxMs;
      await step('hold', async () => ({ holdUntil: new Date(holdUntil).toISOString() }), holdUntil);
      const deadline = () => holdUntil - Date.now();
      await step('drain', async () => this.control.drained(id, Math.min(domain.timeouts.drainMs, deadline())));
      if (to === 'service') {
        let fenceLsn = '';
        await step('fence', async () => {
          const f = await monolithFence(ep.monolithDb, Math.min(domain.timeouts.drainMs, deadline()));
          fenceLsn = f.lsn;
          return { fenceLsn: f.lsn, fenceWaitMs: f.waitedMs };
        });
        await step('catch_up', async () => this.forwardCaughtUp(ep.freshnessUrl, tenant, fenceLsn, Math.min(domain.timeouts.catchUpMs, deadline())));
        let floors: Record<string, number> = {};
        await step('sequences', async () => {
          floors = await keyHighWater(ep.monolithDb, sequences);
          return { serviceIdsFrom: Object.fromEntries(Object.entries(floors).map(([t, hw]) => [t, hw + 1])) };
        });
        await step('grant', async () => grantToService(ep.serviceDb, { tenant, domain: domain.name, epoch, monolithLsn: fenceLsn, floors }));
      } else {
        let allocated: Record<string, number> = {};
        await step('revoke', async () => {
          allocated = (await revokeFromService(ep.serviceDb, { tenant, domain: domain.name, epoch, lockTimeoutMs: Math.max(1, deadline()) })).allocated;
          return { serviceAllocated: allocated };
        });
        await step('catch_up', async () => this.backSyncCaughtUp(ep.monolithDb, domain.name, epoch, Math.min(domain.timeouts.catchUpMs, deadline())));
        await step('sequences', async () => ({ monolithSequencesAt: await moveSequencesPast(ep.monolithDb, sequences, allocated) }));
        await step('unfence', async () => unfence(ep.monolithDb, domain.tables));
      }
      if (deadline() <= 0) throw new OwnershipError('STR_ERR_OWNERSHIP_TIMEOUT', `the hand-over held writes for ${domain.hold.maxMs} ms (hold.maxMs) before it could flip`);
      await step('flip', async () => this.control.flip(id, to, epoch));
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const undone = await this.undo(req, ep, epoch, done);
      figures.undone = undone;
      figures.pauseMs = Math.round(performance.now() - held);
      await this.control.end(id, 'aborted', figures, error).catch(() => {});
      const code = err instanceof OwnershipError ? err.code : 'STR_ERR_OWNERSHIP_STEP_FAILED';
      throw new OwnershipError(code, `hand-over ${id} of ${domain.name} for ${tenant} to the ${to} failed at step ${STEP_AFTER(done)} and went back to the ${cur.owner}${undone.length ? ` (undone: ${undone.join(', ')})` : ''}: ${error}`, {
        cause: err,
        context: { id, step: STEP_AFTER(done), undone },
      });
    }
    figures.pauseMs = Math.round(performance.now() - held);
    // Past the flip: the new owner owns; what is left goes forward.
    if (to === 'service') await this.forward(() => fence(ep.monolithDb, domain.name, domain.tables, domain.fence), id, 'fence_writes', figures);
    await this.control.end(id, 'done', figures, null);
    return { id, domain: domain.name, tenant, from: cur.owner, to, status: 'done', epoch, figures, error: null };
  }

  /**
   * A hand-over whose runner stopped (its lease ran out): undone when it had
   * not flipped, finished when it had.
   */
  async recover(h: { id: number; domain: DomainSpec; tenant: string; to: Owner; epoch: number; done: readonly string[] }): Promise<'undone' | 'finished'> {
    const ep = this.endpoints(h.tenant);
    if (h.done.includes('flip')) {
      if (h.to === 'service' && !h.done.includes('fence_writes')) await fence(ep.monolithDb, h.domain.name, h.domain.tables, h.domain.fence);
      await this.control.end(h.id, 'done', { recovered: true }, null);
      return 'finished';
    }
    const undone = await this.undo({ domain: h.domain, tenant: h.tenant, to: h.to, actor: 'recovery', reason: '', force: false }, ep, h.epoch, h.done);
    await this.control.end(h.id, 'aborted', { recovered: true, undone }, 'its runner stopped before the flip; back to the old owner');
    return 'undone';
  }

  private async undo(req: HandoverRequest, ep: HandoverEndpoints, epoch: number, done: readonly string[]): Promise<string[]> {
    const undone: string[] = [];
    for (const u of undoPlan(req.to, done)) {
      // Each retried: leaving a half-done hand-over behind is worse than waiting.
      await retry(async () => {
        if (u === 'revoke_grant') await revokeFromService(ep.serviceDb, { tenant: req.tenant, domain: req.domain.name, epoch: epoch + 1, lockTimeoutMs: 5_000 });
        if (u === 'refence') await fence(ep.monolithDb, req.domain.name, req.domain.tables, req.domain.fence);
        if (u === 'regrant') {
          // Back to the service as it was: the revoke left the monolith's position of its last hand-over in the row.
          const row = await serviceOwner(ep.serviceDb, req.tenant, req.domain.name);
          await grantToService(ep.serviceDb, { tenant: req.tenant, domain: req.domain.name, epoch: epoch + 1, monolithLsn: row?.monolithLsn ?? '0/0', floors: {} });
        }
      });
      undone.push(u);
    }
    return undone;
  }

  private async forward(fn: () => Promise<unknown>, id: number, name: string, figures: Record<string, unknown>): Promise<void> {
    const t0 = performance.now();
    await retry(fn);
    figures[`${name}Ms`] = Math.round(performance.now() - t0);
    await this.control.record(id, name, { ms: figures[`${name}Ms`] });
  }

  /** A hand-over to the service: each write route of the domain compared (dry runs) enough times for the tenant, with no mismatch. */
  private parityCheck(req: HandoverRequest): Record<string, unknown> {
    return parityVerdict(this.parity(req.domain.routes, req.tenant), req.domain.parityMinSamples, req.force, req.tenant);
  }

  /** Handing back: back-sync must have applied a probe written now (everything before it), or the hand-back is refused with the figures. */
  private async rollbackGuard(req: HandoverRequest, ep: HandoverEndpoints): Promise<Record<string, unknown>> {
    const t0 = Date.now();
    const probe = await probeBackSync(ep.serviceDb, req.tenant, req.domain.name);
    const { state, met } = await watchBackSyncState(ep.monolithDb, req.domain.name, (s) => probe !== null && s !== null && s.serviceUs !== null && s.serviceUs >= probe.atUs, req.domain.timeouts.guardMs, 20);
    if (met) return { guard: { backSyncCaughtUpMs: Date.now() - t0 } };
    const figures = { probeWrittenAt: probe?.at ?? null, backSyncLastAppliedAt: state?.appliedAt ?? null, waitedMs: Date.now() - t0 };
    if (req.force) return { guard: { forced: true, ...figures } };
    throw new OwnershipError(
      'STR_ERR_OWNERSHIP_REFUSED',
      `back-sync is behind or stopped for ${req.tenant}: a probe written ${figures.waitedMs} ms ago has not reached the monolith (back-sync last applied a change of ownership at ${figures.backSyncLastAppliedAt ?? 'never'}). Handing back now would lose the service's writes it has not carried: start back-sync (strangler backsync run) and retry, or --force with a reason`,
      { context: figures },
    );
  }

  /** The service's projector is through the monolith's fence position for the tenant. */
  private async forwardCaughtUp(url: string, tenant: string, fenceLsn: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const t0 = Date.now();
    const fenceAt = lsnValue(fenceLsn);
    let last: string | null = null;
    for (;;) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
        const body = (await res.json()) as { tenants?: Array<{ tenant: string; appliedLsn?: string | null }> };
        last = body.tenants?.find((t) => t.tenant === tenant)?.appliedLsn ?? null;
        if (last !== null && lsnValue(last) >= fenceAt) return { serviceAppliedLsn: last };
      } catch {
        // Not answering yet: asked again until the timeout.
      }
      if (Date.now() - t0 > timeoutMs) {
        throw new OwnershipError('STR_ERR_OWNERSHIP_TIMEOUT', `the service had not applied the monolith's changes up to the fence (${fenceLsn}) within ${timeoutMs} ms (it reports ${last ?? 'nothing'} for ${tenant} at ${url})`, { retriable: true });
      }
      await sleep(5);
    }
  }

  /** Back-sync has applied the service's revoke (epoch): everything the service committed before it is in the monolith. */
  private async backSyncCaughtUp(url: string, domain: string, epoch: number, timeoutMs: number): Promise<Record<string, unknown>> {
    const { state: s, met } = await watchBackSyncState(url, domain, (x) => x !== null && x.epoch >= epoch, timeoutMs, 5);
    if (met) return { backSyncEpoch: s!.epoch };
    throw new OwnershipError('STR_ERR_OWNERSHIP_TIMEOUT', `back-sync had not carried the service's writes up to the hand-back (epoch ${epoch}) within ${timeoutMs} ms (it stands at ${s ? `epoch ${s.epoch}, ${s.appliedAt}` : 'nothing'}): is \`strangler backsync run\` running?`, { retriable: true });
  }
}

/**
 * Whether parity has proven the service's writes for a tenant: every write
 * route of the domain compared at least `need` times (shadowed dry runs),
 * none mismatched. Refused otherwise, naming each route short of it, unless
 * forced (the figures are then recorded as forced). Pure.
 */
export function parityVerdict(routes: readonly RouteParity[], need: number, force: boolean, tenant: string): Record<string, unknown> {
  if (need === 0) return { parity: 'not asked (parityMinSamples 0)' };
  const short = routes.filter((r) => r.compared < need || r.mismatched > 0);
  if (short.length > 0 && !force) {
    throw new OwnershipError(
      'STR_ERR_OWNERSHIP_REFUSED',
      `parity has not proven the service's writes for ${tenant}: ${short.map((r) => `${r.route} ${r.compared} compared, ${r.mismatched} mismatched`).join('; ')} (each write route needs ${need} comparisons and none mismatched: shadow them with mirrorWrites, or --force with a reason)`,
      { context: { routes: short } },
    );
  }
  return { parity: routes, parityForced: short.length > 0 };
}

function STEP_AFTER(done: readonly string[]): string {
  return `after ${done[done.length - 1] ?? 'start'}`;
}

async function retry(fn: () => Promise<unknown>, attempts = 20): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await fn();
      return;
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(Math.min(2_000, 50 * 2 ** i));
    }
  }
}

function lsnValue(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', `not a WAL position: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}
