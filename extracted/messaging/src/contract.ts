import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';

/**
 * The HTTP contract of the routes this service takes over, written from the
 * monolith's API as clients see it (not imported from the legacy code):
 * integer ids as numbers, timestamps as ISO 8601 with milliseconds, amounts
 * as exact decimal strings, pages as { data, page: { limit, offset,
 * next_offset } }, errors as { error: { code, message, details? } }.
 */
type Row = Record<string, unknown>;
const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string | Date).toISOString());
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export const shape = {
  room: (r: Row) => ({
    id: num(r.id),
    name: r.name,
    topic: r.topic ?? null,
    kind: r.kind,
    tags: r.tags,
    settings: r.settings,
    created_by: num(r.created_by),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    archived_at: iso(r.archived_at),
  }),
  member: (r: Row) => ({ room_id: num(r.room_id), user_id: num(r.user_id), role: r.role, joined_at: iso(r.joined_at) }),
  message: (r: Row) => ({
    id: num(r.id),
    room_id: num(r.room_id),
    author_id: num(r.author_id),
    body: r.body,
    format: r.format,
    attachments: r.attachments,
    amount: r.amount ?? null,
    currency: r.currency ?? null,
    edit_count: num(r.edit_count),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    edited_at: iso(r.edited_at),
    deleted_at: iso(r.deleted_at),
  }),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Array<{ path: string; message: string }>,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: number) => new ApiError(404, 'not_found', `${what} ${id} not found`);

export const pageQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(200).default(50), offset: z.coerce.number().int().min(0).max(10_000_000).default(0) })
  .strict();

export function query<T extends z.ZodTypeAny>(req: Request, schema: T): z.infer<T> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) {
    throw new ApiError(400, 'invalid_request', 'the query string has invalid parameters', parsed.error.issues.map((i) => ({ path: ['query', ...i.path.map(String)].join('.'), message: i.message })));
  }
  return parsed.data;
}

export function id(req: Request, name: string, max = 2_147_483_647): number {
  const raw = req.params[name];
  if (typeof raw !== 'string' || !/^[1-9]\d{0,15}$/.test(raw) || Number(raw) > max) {
    throw new ApiError(400, 'invalid_id', `${name} must be a positive integer`, [{ path: `params.${name}`, message: `got ${JSON.stringify(raw)}` }]);
  }
  return Number(raw);
}

export function toPage<T>(rows: T[], limit: number, offset: number) {
  const more = rows.length > limit;
  return { data: more ? rows.slice(0, limit) : rows, page: { limit, offset, next_offset: more ? offset + limit : null } };
}

/** Database errors the client caused, by SQLSTATE, answered as the monolith answers them. */
const PG_CLIENT_ERRORS: Record<string, [number, string]> = {
  '23503': [422, 'reference_not_found'],
  '23505': [409, 'conflict'],
  '23514': [422, 'constraint_violated'],
  '22001': [422, 'value_too_long'],
  '22003': [422, 'value_out_of_range'],
  '22P02': [400, 'invalid_value'],
};

export function errorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  const send = (status: number, code: string, message: string, details?: ApiError['details']) => {
    if (res.headersSent) return;
    res.status(status).json({ error: details ? { code, message, details } : { code, message } });
  };
  if (err instanceof ApiError) return send(err.status, err.code, err.message, err.details);
  // The body parser's refusals, and the database's, as the monolith words them.
  const e = err as { type?: string; status?: number; code?: string; detail?: string; constraint?: string; message?: string };
  if (e.type === 'entity.parse.failed') return send(400, 'malformed_json', 'the request body is not valid JSON');
  if (e.type === 'entity.too.large') return send(413, 'body_too_large', 'the request body is larger than this server accepts');
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return send(415, 'unsupported_encoding', e.message ?? 'unsupported encoding');
  if (typeof e.code === 'string' && PG_CLIENT_ERRORS[e.code]) {
    const [status, code] = PG_CLIENT_ERRORS[e.code]!;
    return send(status, code, e.detail ?? (e.constraint ? `violates ${e.constraint}` : 'the request conflicts with stored data'));
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return send(e.status, 'bad_request', e.message ?? 'bad request');
  send(500, 'internal', 'the service failed on this request');
}
