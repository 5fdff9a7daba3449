export { registerContractsCommands } from './cli';
export { checkContracts, withMigratedScratch, type CheckResult, type MigrationSource } from './check';
export { snapshotContracts, type SnapshotResult } from './snapshot';
export { compareShapes, formatChanges, type Change, type ChangeKind, type Consumer } from './compare';
export { contractOf, schemasOf, type ContractColumn, type Shape, type StreamContract } from './contract';
export { columnSchema, widens } from './json-schema';
export { readShapes, listTables } from './derive';
export { readContracts, readConsumers, writeContract } from './files';
export { ContractsError, type ContractsErrorCode } from './errors';
