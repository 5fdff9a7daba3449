import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { HttpError, notFound } from '../http/errors';
import { body, id, MAX_BIGINT_ID, pageQuery, query, toPage } from '../http/validate';
import * as out from '../serialize';

/** Large bodies are a legacy fact (pasted statements, long reports); PostgreSQL TOASTs them. */
export const MAX_BODY_CHARS = 1_000_000;

const format = z.enum(['plain', 'markdown']);
const attachment = z
  .object({ name: z.string().min(1).max(255), size: z.number().int().min(0), content_type: z.string().max(255) })
  .strict();
const amount = z.string().regex(/^-?\d{1,16}(\.\d{1,2})?$/, 'must be a decimal string with at most 16 integer and 2 fraction digits');
const create = z
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
const edit = z
  .object({ body: z.string().min(1).max(MAX_BODY_CHARS).optional(), format: format.optional(), attachments: z.array(attachment).max(20).optional() })
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'send at least one field to change');
const listQuery = pageQuery.extend({ include_deleted: z.enum(['true', 'false']).default('false') });
const searchQuery = pageQuery.extend({
  q: z.string().trim().min(1).max(200),
  room_id: z.coerce.number().int().positive().max(2_147_483_647).optional(),
});

export function roomMessagesRouter(db: Knex): Router {
  const r = Router({ mergeParams: true });
  r.get('/', async (req, res) => {
    const roomId = id(req, 'roomId');
    const q = query(req, listQuery);
    if (!(await db('rooms').where({ id: roomId }).first('id'))) throw notFound('room', roomId);
    const rows = await db('messages')
      .where({ room_id: roomId })
      .modify((b) => {
        if (q.include_deleted === 'false') b.whereNull('deleted_at');
      })
      .orderBy('id')
      .limit(q.limit + 1)
      .offset(q.offset);
    res.json(toPage(rows.map(out.message), q.limit, q.offset));
  });
  r.post('/', async (req, res) => {
    const roomId = id(req, 'roomId');
    const input = body(req, create);
    const room = await db('rooms').where({ id: roomId }).first('id', 'archived_at');
    if (!room) throw notFound('room', roomId);
    if (room.archived_at) throw new HttpError(409, 'room_archived', `room ${roomId} is archived`);
    if (!(await db('users').where({ id: input.author_id }).first('id'))) {
      throw new HttpError(422, 'reference_not_found', `user ${input.author_id} not found`, [{ path: 'body.author_id', message: 'unknown user' }]);
    }
    const [row] = await db('messages')
      .insert({ ...input, room_id: roomId, attachments: JSON.stringify(input.attachments ?? []) })
      .returning('*');
    res.status(201).location(`/api/messages/${row.id}`).json(out.message(row));
  });
  return r;
}

export function messagesRouter(db: Knex): Router {
  const r = Router();
  r.get('/search', async (req, res) => {
    const q = query(req, searchQuery);
    const rows = await db('messages')
      .whereRaw(`to_tsvector('simple', body) @@ plainto_tsquery('simple', ?)`, [q.q])
      .whereNull('deleted_at')
      .modify((b) => {
        if (q.room_id !== undefined) b.where({ room_id: q.room_id });
      })
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .offset(q.offset);
    res.json(toPage(rows.map(out.message), q.limit, q.offset));
  });
  r.get('/:messageId', async (req, res) => {
    const messageId = id(req, 'messageId', MAX_BIGINT_ID);
    const row = await db('messages').where({ id: messageId }).whereNull('deleted_at').first();
    if (!row) throw notFound('message', messageId);
    res.json(out.message(row));
  });
  r.patch('/:messageId', async (req, res) => {
    const messageId = id(req, 'messageId', MAX_BIGINT_ID);
    const input = body(req, edit);
    const patch: Record<string, unknown> = {
      ...input,
      edit_count: db.raw('edit_count + 1'),
      edited_at: db.fn.now(),
      updated_at: db.fn.now(),
    };
    if (input.attachments) patch.attachments = JSON.stringify(input.attachments);
    const [row] = await db('messages').where({ id: messageId }).whereNull('deleted_at').update(patch).returning('*');
    if (!row) throw notFound('message', messageId);
    res.json(out.message(row));
  });
  // Soft delete: compliance keeps the row; the API stops showing it.
  r.delete('/:messageId', async (req, res) => {
    const messageId = id(req, 'messageId', MAX_BIGINT_ID);
    const n = await db('messages').where({ id: messageId }).whereNull('deleted_at').update({ deleted_at: db.fn.now(), updated_at: db.fn.now() });
    if (!n) throw notFound('message', messageId);
    res.status(204).end();
  });
  return r;
}
