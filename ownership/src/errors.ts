import { StranglerError } from '@strangler/common';

/** Stable codes of ownership/ (listed in docs/errors.md). */
export type OwnershipErrorCode =
  | 'STR_ERR_OWNERSHIP_CONFIG'
  | 'STR_ERR_OWNERSHIP_TABLE'
  | 'STR_ERR_OWNERSHIP_DATABASE'
  | 'STR_ERR_OWNERSHIP_REFUSED'
  | 'STR_ERR_OWNERSHIP_BUSY'
  | 'STR_ERR_OWNERSHIP_STEP_FAILED'
  | 'STR_ERR_OWNERSHIP_TIMEOUT';

export class OwnershipError extends StranglerError {
  declare readonly code: OwnershipErrorCode;

  constructor(code: OwnershipErrorCode, message: string, options: { cause?: unknown; retriable?: boolean; context?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}
