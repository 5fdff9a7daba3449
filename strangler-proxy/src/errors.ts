import { StranglerError } from '@strangler/common';

/**
 * Every error the proxy raises. `code` is stable and listed in docs/errors.md;
 * `status` is what a client sees when the error ends a request.
 */
export class ProxyError extends StranglerError {
  readonly status: number;

  constructor(
    code: string,
    message: string,
    options: { status?: number; cause?: unknown; retriable?: boolean; context?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.status = options.status ?? 500;
  }
}

/** The JSON body every refusal carries, the same shape as the monolith's errors. */
export function errorBody(code: string, message: string, details?: Record<string, unknown>): string {
  return JSON.stringify({ error: details ? { code, message, details } : { code, message } });
}
