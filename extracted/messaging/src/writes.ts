import express, { type Express, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { ApiError, id, notFound, shape } from './contract';
import { messagePosted, roomCreated, type DomainEvent } from './events';
import { ownsInTransaction } from './ownership';
import { idSequence } from '@strangler/ownership';

/**
 * The domain's writes (rooms, members, messages), with the monolith's
 * contract as clients see it: the same paths, validation (each invalid field
 * named), status codes, Location headers, error bodies and JSON. Every write
 * is one transaction on the service's tables, scoped by tenant.
 *
 * - With the dry-run header, a write runs whole and is rolled back: the
 *   answer is what it would have been (shadow parity of writes, before any
 *   hand-over).
 * - Otherwise it commits only for a tenant whose domain the service owns
 *   (its row in strangler.domain_owners, read FOR SHARE in the write's own
 *   transaction, so a hand-back waits for it and none commits after); for
 *   another, 409 `not_owner`: the monolith owns that tenant's data, and the
 *   proxy sends its writes there.
 * - Ids are the service's to give while it owns a domain (a sequence per
 *   tenant and table, moved past the monolith's at each hand-over; never
 *   below what the copy holds).
 */
export interface WriteOptions {
  /** The domain whose rows in strangler.domain_owners say which tenants the service owns. @default 'messaging' */
  readonly domain?: string;
  /** The header that asks for a dry run (the proxy's services.<name>.dryRunHeader). @default 'x-strangler-dry-run' */
  readonly dryRunHeader?: string;
}

const MAX_BODY_CHARS = 1_000_000;
const kind = z.enum(['direct', 'group', 'announcement']);
const tags = z.array(z.string().trim().min(1).max(64)).max(32);
const settings = z.record(z.string(), z.unknown());
const createRoom = z
  .object({
    name: z.string().trim().min(1).max(200),
    topic: z.string().max(2000).nullable().optional(),
    kind: kind.optional(),
    tags: tags.optional(),
    settings: settings.optional(),
    created_by: z.number().int().positive().max(2_147_483_647).optional(),
  })
  .strict();
const updateRoom = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    topic: z.string().max(2000).nullable().optional(),
    tags: tags.optional(),
    settings: settings.optional(),
    archived: z.boolean().optional(),
  })
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'send at least one field to change');
const role = z.enum(['owner', 'member', 'observer']);
const format = z.enum(['plain', 'markdown']);
const attachment = z.object({ name: z.string().min(1).max(255), size: z.number().int().min(0), content_type: z.string().max(255) }).strict();
const amount = z.string().regex(/^-?\d{1,16}(\.\d{1,2})?$/, 'must be a decimal string with at most 16 integer and 2 fraction digits');
const createMessage = z
  .object({
    author_id: z.number().int().positive().max(2_147_483_647),
    body: z.string().min(1).max(MAX_BODY_CHARS),
    format: format.optional(),
    attachments: z.array(attachment).max(20).optional(),
    amount: amount.optional(),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR').optional(),
  })
  .strict()
  .refine((m) => (m.amount === undefined) === (m.currency === undefined), { message: 'amount and currency go together', path: ['currency'] });
const editMessage = z
  .object({ body: z.string().min(1).max(MAX_BODY_CHARS).optional(), format: format.optional(), attachments: z.array(attachment).max(20).optional() })
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'send at least one field to change');

function body<T extends z.ZodTypeAny>(req: Request, schema: T): z.infer<T> {
  if (req.body === undefined) throw new ApiError(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
  const parsed = schema.safeParse(req.body);
  if (!parsed.success) throw new ApiError(400, 'invalid_request', 'the request body has invalid fields', parsed.error.issues.map((i) => ({ path: ['body', ...i.path.map(String)].join('.'), message: i.message })));
  return parsed.data;
}

interface Answer {
  readonly status: number;
  readonly json?: unknown;
  readonly location?: string;
}

/** Thrown to roll a dry run back once its answer is known. */
class DryRun {
  constructor(readonly answer: Answer) {}
}

export function mountWrites(app: Express, db: Knex, tenantOf: (req: Request) => string, o: WriteOptions): void {
  const dryRunHeader = (o.dryRunHeader ?? 'x-strangler-dry-run').toLowerCase();
  const json = express.json({ limit: '2mb', strict: true });

  /** One write: the tenant checked, one transaction, committed or (dry run) rolled back, then answered. */
  const write = (handler: (trx: Knex.Transaction, tenant: string, req: Request) => Promise<Answer>) => async (req: Request, res: Response) => {
    const tenant = tenantOf(req);
    const dry = req.headers[dryRunHeader] === '1';
    let answer: Answer;
    if (!dry) await ensureSequences(tenant);
    try {
      answer = await db.transaction(async (trx) => {
        if (dry) dryRuns.add(trx);
        if (!dry && !(await ownsInTransaction(trx, tenant, o.domain))) {
          throw new ApiError(409, 'not_owner', `the monolith owns tenant ${tenant}'s rooms and messages: write through it (the proxy sends writes to the domain's owner)`);
        }
        const a = await handler(trx, tenant, req);
        if (dry) throw new DryRun(a);
        return a;
      });
    } catch (err) {
      if (!(err instanceof DryRun)) throw err;
      answer = err.answer;
    }
    if (answer.location) res.location(answer.location);
    if (answer.json === undefined) res.status(answer.status).end();
    else res.status(answer.status).json(answer.json);
  };

  /** A domain event, written to the outbox in the write's own transaction: published when it commits, never when it rolls back (a dry run, a failure). */
  const emit = (trx: Knex.Transaction, tenant: string, e: DomainEvent) => trx('outbox').insert({ aggregate_type: e.aggregateType, aggregate_id: e.aggregateId, type: e.type, version: e.version, tenant, payload: JSON.stringify(e.payload) });

  const scoped = (trx: Knex.Transaction, tenant: string) => (table: 'rooms' | 'room_members' | 'messages' | 'users') => trx(table).where(`${table}.tenant`, tenant);
  /**
   * The next id of a table for a tenant, from the tenant's sequence of it
   * (a hand-over to the service moves it past everything the monolith gave;
   * one that never saw a hand-over starts past what the copy and the
   * allocation record hold). A sequence never waits, and never gives an id
   * twice, even to a transaction that rolled back (a dry run burns one).
   */
  const sequences = new Set<string>();
  /** Transactions of dry runs: they take no id (a sequence would lose it), they say which one would be next. */
  const dryRuns = new WeakSet<Knex.Transaction>();
  /** Makes a tenant's sequences once per process, before its first write's transaction (never a second connection from inside one: the pool could run dry). */
  const ensureSequences = async (tenant: string): Promise<void> => {
    for (const table of ['rooms', 'messages'] as const) {
      const seq = idSequence(tenant, table);
      if (sequences.has(seq)) continue;
      await db.raw(`CREATE SEQUENCE IF NOT EXISTS ${seq} AS bigint`).catch((err: { code?: string }) => {
        if (err.code !== '23505' && err.code !== '42P07') throw err; // made meanwhile by another writer
      });
      await db.raw(
        `SELECT setval(?, greatest((SELECT coalesce(max(id), 0) FROM ${table} WHERE tenant = ?), (SELECT coalesce(max(next_id) - 1, 0) FROM strangler.id_allocations WHERE tenant = ? AND tbl = ?),
                                  (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM ${seq}), 1), true)`,
        [seq, tenant, tenant, table],
      );
      sequences.add(seq);
    }
  };
  const nextId = async (trx: Knex.Transaction, tenant: string, table: 'rooms' | 'messages'): Promise<number> => {
    const seq = idSequence(tenant, table);
    if (dryRuns.has(trx)) {
      // pg_sequences, not the sequence itself: a tenant that never wrote for real has none yet (a dry run makes nothing).
      const peek = await trx.raw(
        `SELECT greatest((SELECT coalesce(last_value, 0) + 1 FROM pg_sequences WHERE schemaname = 'strangler' AND sequencename = ?), (SELECT coalesce(max(id), 0) + 1 FROM ${table} WHERE tenant = ?)) AS id`,
        [`ids__${tenant}__${table}`, tenant],
      );
      return Number(peek.rows[0].id);
    }
    // Never below what the copy holds (a hand-over's grant moves the sequence past it; a tenant whose row was set by hand was not).
    const r = await trx.raw(
      `SELECT CASE WHEN m.top >= n.id THEN setval(?::regclass, m.top + 1, true) ELSE n.id END AS id
         FROM (SELECT nextval(?::regclass) AS id) n, (SELECT coalesce(max(id), 0) AS top FROM ${table} WHERE tenant = ?) m`,
      [seq, seq, tenant],
    );
    return Number(r.rows[0].id);
  };
  const userExists = async (trx: Knex.Transaction, tenant: string, userId: number) => !!(await scoped(trx, tenant)('users').where({ id: userId }).first('id'));

  app.post('/api/rooms', json, write(async (trx, tenant, req) => {
    const input = body(req, createRoom);
    if (input.created_by !== undefined && !(await userExists(trx, tenant, input.created_by))) {
      throw new ApiError(422, 'reference_not_found', `user ${input.created_by} not found`, [{ path: 'body.created_by', message: 'unknown user' }]);
    }
    const now = (await trx.raw('SELECT now() AS t')).rows[0].t as Date;
    const row = { tenant, id: await nextId(trx, tenant, 'rooms'), name: input.name, topic: input.topic ?? null, kind: input.kind ?? 'group', tags: input.tags ?? [], settings: JSON.stringify(input.settings ?? {}), created_by: input.created_by ?? null, created_at: now, updated_at: now, archived_at: null };
    const [room] = await trx('rooms').insert(row).returning('*');
    if (input.created_by !== undefined) await trx('room_members').insert({ tenant, room_id: room.id, user_id: input.created_by, role: 'owner', joined_at: now });
    await emit(trx, tenant, roomCreated(room));
    return { status: 201, location: `/api/rooms/${room.id}`, json: shape.room(room) };
  }));

  app.patch('/api/rooms/:roomId', json, write(async (trx, tenant, req) => {
    const roomId = id(req, 'roomId');
    const { archived, ...input } = body(req, updateRoom);
    const patch: Record<string, unknown> = { ...input, updated_at: trx.fn.now() };
    if (input.settings) patch.settings = JSON.stringify(input.settings);
    if (archived !== undefined) patch.archived_at = archived ? trx.fn.now() : null;
    const [row] = await scoped(trx, tenant)('rooms').where({ id: roomId }).update(patch).returning('*');
    if (!row) throw notFound('room', roomId);
    return { status: 200, json: shape.room(row) };
  }));

  // The monolith's foreign keys cascade a room's members and messages with it; the copy has none, so the same is done here.
  app.delete('/api/rooms/:roomId', write(async (trx, tenant, req) => {
    const roomId = id(req, 'roomId');
    await scoped(trx, tenant)('messages').where({ room_id: roomId }).delete();
    await scoped(trx, tenant)('room_members').where({ room_id: roomId }).delete();
    const n = await scoped(trx, tenant)('rooms').where({ id: roomId }).delete();
    if (!n) throw notFound('room', roomId);
    return { status: 204 };
  }));

  app.put('/api/rooms/:roomId/members/:userId', json, write(async (trx, tenant, req) => {
    const roomId = id(req, 'roomId');
    const userId = id(req, 'userId');
    const input = body(req, z.object({ role: role.default('member') }).strict());
    if (!(await scoped(trx, tenant)('rooms').where({ id: roomId }).first('id'))) throw notFound('room', roomId);
    if (!(await userExists(trx, tenant, userId))) throw notFound('user', userId);
    const r = await trx.raw(
      `INSERT INTO room_members (tenant, room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?, now())
       ON CONFLICT (tenant, room_id, user_id) DO UPDATE SET role = EXCLUDED.role
       RETURNING *, (xmax = 0) AS inserted`,
      [tenant, roomId, userId, input.role],
    );
    const row = r.rows[0];
    return { status: row.inserted ? 201 : 200, json: shape.member(row) };
  }));

  app.delete('/api/rooms/:roomId/members/:userId', write(async (trx, tenant, req) => {
    const roomId = id(req, 'roomId');
    const userId = id(req, 'userId');
    const n = await scoped(trx, tenant)('room_members').where({ room_id: roomId, user_id: userId }).delete();
    if (!n) throw new ApiError(404, 'not_found', `user ${userId} is not a member of room ${roomId}`);
    return { status: 204 };
  }));

  app.post('/api/rooms/:roomId/messages', json, write(async (trx, tenant, req) => {
    const roomId = id(req, 'roomId');
    const input = body(req, createMessage);
    const room = await scoped(trx, tenant)('rooms').where({ id: roomId }).first('id', 'archived_at');
    if (!room) throw notFound('room', roomId);
    if (room.archived_at) throw new ApiError(409, 'room_archived', `room ${roomId} is archived`);
    if (!(await userExists(trx, tenant, input.author_id))) {
      throw new ApiError(422, 'reference_not_found', `user ${input.author_id} not found`, [{ path: 'body.author_id', message: 'unknown user' }]);
    }
    const now = (await trx.raw('SELECT now() AS t')).rows[0].t as Date;
    const row = {
      tenant, id: await nextId(trx, tenant, 'messages'), room_id: roomId, author_id: input.author_id, body: input.body, format: input.format ?? 'plain',
      attachments: JSON.stringify(input.attachments ?? []), amount: input.amount ?? null, currency: input.currency ?? null, edit_count: 0,
      created_at: now, updated_at: now, edited_at: null, deleted_at: null,
    };
    const [message] = await trx('messages').insert(row).returning('*');
    await emit(trx, tenant, messagePosted(message));
    return { status: 201, location: `/api/messages/${message.id}`, json: shape.message(message) };
  }));

  app.patch('/api/messages/:messageId', json, write(async (trx, tenant, req) => {
    const messageId = id(req, 'messageId', Number.MAX_SAFE_INTEGER);
    const input = body(req, editMessage);
    const patch: Record<string, unknown> = { ...input, edit_count: trx.raw('edit_count + 1'), edited_at: trx.fn.now(), updated_at: trx.fn.now() };
    if (input.attachments) patch.attachments = JSON.stringify(input.attachments);
    const [row] = await scoped(trx, tenant)('messages').where({ id: messageId }).whereNull('deleted_at').update(patch).returning('*');
    if (!row) throw notFound('message', messageId);
    return { status: 200, json: shape.message(row) };
  }));

  // Soft delete, as the monolith does: compliance keeps the row.
  app.delete('/api/messages/:messageId', write(async (trx, tenant, req) => {
    const messageId = id(req, 'messageId', Number.MAX_SAFE_INTEGER);
    const n = await scoped(trx, tenant)('messages').where({ id: messageId }).whereNull('deleted_at').update({ deleted_at: trx.fn.now(), updated_at: trx.fn.now() });
    if (!n) throw notFound('message', messageId);
    return { status: 204 };
  }));
}
