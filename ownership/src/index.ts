export { type DomainSpec, type Owner, type Step, STEPS, holds, undoPlan } from './domain';
export { Handover, parityVerdict, type HandoverControl, type HandoverEndpoints, type HandoverRequest, type HandoverResult, type RouteParity } from './handover';
export { fence, unfence, fences, type Fence, type FenceMode } from './fence';
export { keySequences, keyHighWater, moveSequencesPast, monolithFence, watchBackSyncState, type BackSyncState, type KeySequence } from './monolith-side';
export { serviceOwner, grantToService, revokeFromService, probeBackSync, conflicts, idSequence, OWNERSHIP_LOCK_SQL } from './service-side';
export { backSyncRound } from './backsync-round';
export { OwnershipError, type OwnershipErrorCode } from './errors';
