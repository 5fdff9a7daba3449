import type { ErrorRequestHandler, RequestHandler } from 'express';

export interface ErrorDetail {
  readonly path: string;
  readonly message: string;
}

/** An answer other than 2xx, always sent as `{ "error": { code, message, details? } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: readonly ErrorDetail[],
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string | number): HttpError => new HttpError(404, 'not_found', `${what} ${id} not found`);

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'route_not_found', `no route for ${req.method} ${req.path}`));
};

/** Postgres errors the client caused, by SQLSTATE. */
const PG_CLIENT_ERRORS: Record<string, [number, string]> = {
  '23503': [422, 'reference_not_found'],
  '23505': [409, 'conflict'],
  '23514': [422, 'constraint_violated'],
  '22001': [422, 'value_too_long'],
  '22003': [422, 'value_out_of_range'],
  '22P02': [400, 'invalid_value'],
};

/** Never a stack trace or a 500 for the client's own mistakes. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const send = (status: number, code: string, message: string, details?: readonly ErrorDetail[]) => {
    if (res.headersSent) return;
    res.status(status).json({ error: { code, message, ...(details ? { details } : {}) } });
  };
  if (err instanceof HttpError) return send(err.status, err.code, err.message, err.details);
  const e = err as { type?: string; status?: number; code?: string; detail?: string; constraint?: string; message?: string };
  if (e.type === 'entity.parse.failed') return send(400, 'malformed_json', 'the request body is not valid JSON');
  if (e.type === 'entity.too.large') return send(413, 'body_too_large', 'the request body is larger than this server accepts');
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return send(415, 'unsupported_encoding', e.message ?? 'unsupported encoding');
  if (typeof e.code === 'string' && PG_CLIENT_ERRORS[e.code]) {
    const [status, code] = PG_CLIENT_ERRORS[e.code]!;
    return send(status, code, e.detail ?? (e.constraint ? `violates ${e.constraint}` : 'the request conflicts with stored data'));
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return send(e.status, 'bad_request', e.message ?? 'bad request');
  console.error(JSON.stringify({ level: 'error', msg: 'unhandled error', method: req.method, path: req.path, err: String(err?.stack ?? err) }));
  return send(500, 'internal', 'internal error');
};
