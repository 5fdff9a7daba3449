import { StranglerError } from '@strangler/common';

/** Stable codes of backsync/ (listed in docs/errors.md). */
export type BackSyncErrorCode = 'STR_ERR_BACKSYNC_CONFIG' | 'STR_ERR_BACKSYNC_ORIGIN' | 'STR_ERR_BACKSYNC_TABLE' | 'STR_ERR_BACKSYNC_APPLY';

export class BackSyncError extends StranglerError {
  declare readonly code: BackSyncErrorCode;

  constructor(code: BackSyncErrorCode, message: string, options: { cause?: unknown; retriable?: boolean; context?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}
