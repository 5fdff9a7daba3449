export { ConnectClient } from './connect-client';
export type { ConnectorConfig, ConnectorStatus, ValidationResult } from './connect-client';
export {
  tenantConnectorConfig,
  connectorName,
  slotName,
  topicFor,
  notificationTopic,
  MONOLITH_TABLES,
  SIGNAL_TABLE,
  HEARTBEAT_TABLE,
  HEARTBEAT_INTERVAL_MS,
  POSTGRES_CONNECTOR_CLASS,
  DROP_ORIGIN_TRANSFORM,
  EVENT_ENCODING,
  TOPIC_CREATION,
  postgresConnection,
} from './connector-config';
export type { TenantSource } from './connector-config';
export { registerTenantConnector, waitUntilStreaming, removeTenantConnector, sameConfig, hasTransform } from './register';
export { checkSource, assertSourceReady, migrateHint, type SourceProblem } from './source-check';
export { connectSource } from './source-db';
export { q, qt } from './projector/mirror-schema';
export type { RegisterAction, RegisterResult } from './register';
export { cdcStatus, formatStatus, unhealthy, RESTART_LOOP, type StatusOptions } from './status';
export { parseTaskRestarts, type TaskRestarts } from './restarts';
export type { ConnectorReport, SlotStatus } from './status';
export { CdcError } from './errors';
export type { CdcErrorCode } from './errors';
export { decode, isSnapshot, comparePosition, jsonText, UNAVAILABLE } from './events/change-event';
export type { ChangeEvent, Decoded, Op, Row, SourcePosition, Tombstone } from './events/change-event';
export { kafkaClients, type KafkaClients, type KafkaClientOptions } from './kafka';
export { BACKSYNC_ORIGIN_PREFIX, Projector, isRetriable, type ProjectorOptions, type PartitionLag } from './projector/runtime';
export { originSessions, PROJECTION_ORIGIN_PREFIX, PROJECTION_ORIGINS } from './projector/origin-sessions';
export { PoisonEventError, type Projection } from './projector/types';
export { mirrorProjection, readTableSpec, tenantTopics, type MirrorTable, type MirrorColumn, type MirrorOptions, type TableSpecOptions } from './projector/mirror';
export { listCheckpoints, clearCheckpoints } from './projector/checkpoints';
export { projectionLag, formatProjectionLag, type ProjectionLagRow } from './projector/lag';
export { freshnessReport, lsnText, lsnValue, type FreshnessReport } from './projector/freshness';
export { listDeadLetterTopics, readDeadLetters, retryDeadLetters, RETRY_HEADER, type DeadLetter } from './dlq';
export { registerDlqCommands, type DlqProjectView } from './cli/dlq-commands';
export { registerCdcCommands, type CdcProjectView } from './cli/cdc-commands';
export { replay, type ReplayOptions, type ReplayProgress, type ReplayResult } from './projector/replay';
export { registerReplayCommand, type ProjectProjections, type ReplayableProjection } from './cli/replay-command';
export { projectionRegistry } from './projector/metrics';
export { outboxConnectorConfig, outboxConnectorName, registerOutboxConnector, eventTopic, EVENT_TOPICS, OUTBOX_TABLE, type OutboxSource } from './outbox';
export { exposition as cdcExposition, startCdcExporter, type CdcExporter } from './exporter';
