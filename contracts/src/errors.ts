import { StranglerError } from '@strangler/common';

export type ContractsErrorCode = 'STR_ERR_CONTRACTS_FILE' | 'STR_ERR_CONTRACTS_DATABASE' | 'STR_ERR_CONTRACTS_MIGRATIONS' | 'STR_ERR_CONTRACTS_NONE';

/** What `strangler contracts` refuses, with what to do. */
export class ContractsError extends StranglerError {
  constructor(code: ContractsErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
