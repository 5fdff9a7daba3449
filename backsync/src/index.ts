export { BackSyncApplier, type BackSyncOptions } from './applier';
export { backSyncConnectorConfig, backSyncConnectorName, backSyncTopic, type ServiceSource } from './connector';
export { BACKSYNC_ORIGIN_PREFIX, MonolithWriter, toLsn, fromLsn } from './monolith-writer';
export { BackSyncError, type BackSyncErrorCode } from './errors';
export { registerBackSyncCommands } from './cli';
export { fence, unfence, fences, type Fence, type FenceMode } from '@strangler/ownership';
