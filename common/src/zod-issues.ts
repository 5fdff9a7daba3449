import type { ZodError } from 'zod';
import type { ConfigIssue } from './errors';

/** Turns every zod issue into a path-precise ConfigIssue carrying the value found there. */
export function zodIssues(error: ZodError, input: unknown, root = ''): ConfigIssue[] {
  return error.issues.map((issue) => {
    const segments = issue.path.map((p) => (typeof p === 'symbol' ? p.toString() : p));
    const path = [root, ...segments.map(String)].filter((s) => s !== '').join('.') || '(root)';
    return { path, value: valueAt(input, segments), message: issue.message };
  });
}

function valueAt(input: unknown, path: readonly (string | number)[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
