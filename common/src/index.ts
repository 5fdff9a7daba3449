export { StranglerError, ConfigError, UsageError, formatValue, isStranglerError } from './errors';
export type { ConfigIssue } from './errors';
export { zodIssues } from './zod-issues';
export { sleep, waitFor, elapsed } from './time';
export { TENANT_NAME } from './tenant';
export { redactUrl } from './url';
