import { StranglerError } from '@strangler/common';

/** Stable codes of stack/ (listed in docs/errors.md). */
export type StackErrorCode =
  | 'STR_ERR_STACK_JAVA_MISSING'
  | 'STR_ERR_STACK_MAVEN_MISSING'
  | 'STR_ERR_STACK_MAVEN_FAILED'
  | 'STR_ERR_STACK_LOGGING_BINDINGS'
  | 'STR_ERR_STACK_PG_BIN_MISSING'
  | 'STR_ERR_STACK_PG_NOT_LOGICAL'
  | 'STR_ERR_STACK_PG_UNREACHABLE'
  | 'STR_ERR_STACK_STATE_DIR_ACCESS'
  | 'STR_ERR_STACK_OS_USER'
  | 'STR_ERR_STACK_PORT_TAKEN'
  | 'STR_ERR_STACK_PROCESS_EXITED'
  | 'STR_ERR_STACK_NOT_READY'
  | 'STR_ERR_STACK_PROMETHEUS_MISSING'
  | 'STR_ERR_STACK_ALREADY_RUNNING'
  | 'STR_ERR_STACK_INTERRUPTED';

export class StackError extends StranglerError {
  declare readonly code: StackErrorCode;

  constructor(
    code: StackErrorCode,
    message: string,
    options: { cause?: unknown; retriable?: boolean; context?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
  }
}
