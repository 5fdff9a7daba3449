import { OwnershipError } from './errors';
import { watchBackSyncState } from './monolith-side';
import { probeBackSync } from './service-side';

/**
 * One round of read-your-writes through back-sync (the proxy's
 * BackSyncBarrier): a probe written in the service's database, then waited
 * for in the monolith's backsync_state. Resolves once back-sync applied it:
 * everything the service committed before the probe is then in the
 * monolith. Rejects with STR_ERR_OWNERSHIP_TIMEOUT after `timeoutMs`, and
 * with STR_ERR_OWNERSHIP_DATABASE when the service has no ownership row for
 * the tenant (nothing to probe with).
 */
export async function backSyncRound(serviceDb: string, monolithDb: string, tenant: string, domain: string, timeoutMs: number): Promise<void> {
  const probe = await probeBackSync(serviceDb, tenant, domain);
  if (probe === null) throw new OwnershipError('STR_ERR_OWNERSHIP_DATABASE', `the service's database has no ownership row for ${tenant}'s ${domain}: no probe through back-sync can be written`);
  const { met } = await watchBackSyncState(monolithDb, domain, (s) => s !== null && s.serviceUs !== null && s.serviceUs >= probe.atUs, timeoutMs, 10);
  if (!met) throw new OwnershipError('STR_ERR_OWNERSHIP_TIMEOUT', `back-sync did not carry a probe into ${tenant}'s monolith database within ${timeoutMs} ms (stopped or behind)`);
}
