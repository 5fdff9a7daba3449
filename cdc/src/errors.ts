import { StranglerError } from '@strangler/common';

/** Stable codes of cdc/ (listed in docs/errors.md). */
export type CdcErrorCode =
  | 'STR_ERR_CDC_CONNECT_UNREACHABLE'
  | 'STR_ERR_CDC_KAFKA_UNREACHABLE'
  | 'STR_ERR_CDC_CONNECT_REQUEST'
  | 'STR_ERR_CDC_CONNECTOR_INVALID'
  | 'STR_ERR_CDC_CONNECTOR_FAILED'
  | 'STR_ERR_CDC_CONNECTOR_NOT_STREAMING'
  | 'STR_ERR_CDC_TENANT_INVALID'
  | 'STR_ERR_CDC_EVENT_MALFORMED'
  | 'STR_ERR_CDC_PROJECTION_FAILED'
  | 'STR_ERR_CDC_SOURCE_UNAVAILABLE'
  | 'STR_ERR_CDC_SOURCE_NOT_READY'
  | 'STR_ERR_CDC_TABLE_UNSUITABLE'
  | 'STR_ERR_CDC_TARGET_UNAVAILABLE'
  | 'STR_ERR_CDC_SCHEMA_CHANGED'
  | 'STR_ERR_CDC_COLUMN_NOT_CAPTURED'
  | 'STR_ERR_CDC_COLUMN_NOT_BACKFILLED'
  | 'STR_ERR_CDC_REPLAY_LIVE'
  | 'STR_ERR_CDC_REPLAY_UNSUPPORTED'
  | 'STR_ERR_CDC_REPLAY_STOPPED'
  | 'STR_ERR_CDC_SNAPSHOT_ABORTED'
  | 'STR_ERR_CDC_DLQ_UNKNOWN'
  | 'STR_ERR_CDC_CHECKPOINT_FAILED'
  | 'STR_ERR_CDC_CONSUMER_CRASHED';

export class CdcError extends StranglerError {
  declare readonly code: CdcErrorCode;

  constructor(code: CdcErrorCode, message: string, options: { cause?: unknown; retriable?: boolean; context?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}
