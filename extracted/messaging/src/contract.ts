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

export function errorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if (err instanceof ApiError) {
    res.status(err.status).json({ error: err.details ? { code: err.code, message: err.message, details: err.details } : { code: err.code, message: err.message } });
    return;
  }
  res.status(500).json({ error: { code: 'internal', message: 'the service failed on this request' } });
}
