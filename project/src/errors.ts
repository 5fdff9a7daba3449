import { StranglerError } from '@strangler/common';

/** Stable codes of project/ (listed in docs/errors.md). */
export type ProjectErrorCode = 'STR_ERR_PROJECT_UNKNOWN_SERVICE' | 'STR_ERR_PROJECT_PORT_TAKEN' | 'STR_ERR_PROJECT_TABLE_UNKEYED';

export class ProjectError extends StranglerError {
  declare readonly code: ProjectErrorCode;

  constructor(code: ProjectErrorCode, message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}
