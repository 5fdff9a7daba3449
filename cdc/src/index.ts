export { ConnectClient } from './connect-client';
export type { ConnectorConfig, ConnectorStatus, ValidationResult } from './connect-client';
export {
  tenantConnectorConfig,
  connectorName,
  slotName,
  topicFor,
  MONOLITH_TABLES,
  SIGNAL_TABLE,
  HEARTBEAT_TABLE,
  POSTGRES_CONNECTOR_CLASS,
} from './connector-config';
export type { TenantSource } from './connector-config';
export { registerTenantConnector, waitUntilStreaming, removeTenantConnector } from './register';
export type { RegisterAction, RegisterResult } from './register';
export { cdcStatus, formatStatus } from './status';
export type { ConnectorReport, SlotStatus } from './status';
export { CdcError } from './errors';
export type { CdcErrorCode } from './errors';
