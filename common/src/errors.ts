/**
 * The one base class of every toolkit error. Callers branch on `code`
 * (stable, documented in docs/errors.md) and on `retriable`, never on the
 * message text, which is for people.
 */
export class StranglerError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  /** Values that explain the failure (a path, a port, a tenant); never secrets. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; retriable?: boolean; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

/** One failed check of a configuration value: where it is, what it was, what is wrong. */
export interface ConfigIssue {
  readonly path: string;
  readonly value: unknown;
  readonly message: string;
}

/** Every problem of one configuration at once, each with its path and value. */
export class ConfigError extends StranglerError {
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(
      'STR_ERR_CONFIG_INVALID',
      `invalid configuration (${source}):\n` +
        issues.map((i) => `  - ${i.path}: ${i.message} (got ${formatValue(i.value)})`).join('\n'),
      { context: { source } },
    );
    this.issues = Object.freeze([...issues]);
  }
}

/** A command line that cannot be carried out as given; the message says what to do instead. */
export class UsageError extends StranglerError {
  constructor(message: string) {
    super('STR_ERR_CLI_USAGE', message);
  }
}

export function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

export function isStranglerError(err: unknown, code?: string): err is StranglerError {
  return err instanceof StranglerError && (code === undefined || err.code === code);
}
