import type { Request } from 'express';
import { z } from 'zod';
import { HttpError, type ErrorDetail } from './errors';

function details(error: z.ZodError, where: string): ErrorDetail[] {
  return error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
}

/** Parses the JSON body with `schema`; a missing or non-JSON body is a 415 or 400, invalid fields a 400 with each field named. */
export function body<T extends z.ZodTypeAny>(req: Request, schema: T): z.infer<T> {
  if (req.body === undefined) {
    throw new HttpError(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
  }
  const parsed = schema.safeParse(req.body);
  if (!parsed.success) throw new HttpError(400, 'invalid_request', 'the request body has invalid fields', details(parsed.error, 'body'));
  return parsed.data;
}

export function query<T extends z.ZodTypeAny>(req: Request, schema: T): z.infer<T> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) throw new HttpError(400, 'invalid_request', 'the query string has invalid parameters', details(parsed.error, 'query'));
  return parsed.data;
}

const MAX_INT4 = 2_147_483_647;

/** A path id: a positive integer within the column's range; anything else is a 400, never a database error. */
export function id(req: Request, name: string, max: number = MAX_INT4): number {
  const raw = req.params[name];
  if (typeof raw !== 'string' || !/^[1-9]\d{0,15}$/.test(raw) || Number(raw) > max) {
    throw new HttpError(400, 'invalid_id', `${name} must be a positive integer`, [{ path: `params.${name}`, message: `got ${JSON.stringify(raw)}` }]);
  }
  return Number(raw);
}

export const MAX_BIGINT_ID = Number.MAX_SAFE_INTEGER;

export const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  })
  .strict();

export interface Page<T> {
  readonly data: T[];
  readonly page: { limit: number; offset: number; next_offset: number | null };
}

/** Fetches one row more than asked to know whether a next page exists, without a COUNT over a large table. */
export function toPage<T>(rows: T[], limit: number, offset: number): Page<T> {
  const more = rows.length > limit;
  return { data: more ? rows.slice(0, limit) : rows, page: { limit, offset, next_offset: more ? offset + limit : null } };
}
