import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { HttpError, notFound } from '../http/errors';
import { body, id, pageQuery, query, toPage } from '../http/validate';
import * as out from '../serialize';

const kind = z.enum(['direct', 'group', 'announcement']);
const tags = z.array(z.string().trim().min(1).max(64)).max(32);
const settings = z.record(z.string(), z.unknown());
const create = z
  .object({
    name: z.string().trim().min(1).max(200),
    topic: z.string().max(2000).nullable().optional(),
    kind: kind.optional(),
    tags: tags.optional(),
    settings: settings.optional(),
    created_by: z.number().int().positive().max(2_147_483_647).optional(),
  })
  .strict();
const update = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    topic: z.string().max(2000).nullable().optional(),
    tags: tags.optional(),
    settings: settings.optional(),
    archived: z.boolean().optional(),
  })
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'send at least one field to change');
const listQuery = pageQuery.extend({
  kind: kind.optional(),
  include_archived: z.enum(['true', 'false']).default('false'),
});
const role = z.enum(['owner', 'member', 'observer']);

export function roomsRouter(db: Knex): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const q = query(req, listQuery);
    const rows = await db('rooms')
      .modify((b) => {
        if (q.kind) b.where({ kind: q.kind });
        if (q.include_archived === 'false') b.whereNull('archived_at');
      })
      .orderBy('id')
      .limit(q.limit + 1)
      .offset(q.offset);
    res.json(toPage(rows.map(out.room), q.limit, q.offset));
  });
  r.get('/:roomId', async (req, res) => {
    const roomId = id(req, 'roomId');
    const row = await db('rooms').where({ id: roomId }).first();
    if (!row) throw notFound('room', roomId);
    res.json(out.room(row));
  });
  r.post('/', async (req, res) => {
    const input = body(req, create);
    const row = await db.transaction(async (tx) => {
      if (input.created_by !== undefined && !(await tx('users').where({ id: input.created_by }).first('id'))) {
        throw new HttpError(422, 'reference_not_found', `user ${input.created_by} not found`, [{ path: 'body.created_by', message: 'unknown user' }]);
      }
      const [room] = await tx('rooms')
        .insert({ ...input, settings: JSON.stringify(input.settings ?? {}) })
        .returning('*');
      if (input.created_by !== undefined) await tx('room_members').insert({ room_id: room.id, user_id: input.created_by, role: 'owner' });
      return room;
    });
    res.status(201).location(`/api/rooms/${row.id}`).json(out.room(row));
  });
  r.patch('/:roomId', async (req, res) => {
    const roomId = id(req, 'roomId');
    const { archived, ...input } = body(req, update);
    const patch: Record<string, unknown> = { ...input, updated_at: db.fn.now() };
    if (input.settings) patch.settings = JSON.stringify(input.settings);
    if (archived !== undefined) patch.archived_at = archived ? db.fn.now() : null;
    const [row] = await db('rooms').where({ id: roomId }).update(patch).returning('*');
    if (!row) throw notFound('room', roomId);
    res.json(out.room(row));
  });
  r.delete('/:roomId', async (req, res) => {
    const roomId = id(req, 'roomId');
    const n = await db('rooms').where({ id: roomId }).delete();
    if (!n) throw notFound('room', roomId);
    res.status(204).end();
  });

  r.get('/:roomId/members', async (req, res) => {
    const roomId = id(req, 'roomId');
    const { limit, offset } = query(req, pageQuery);
    if (!(await db('rooms').where({ id: roomId }).first('id'))) throw notFound('room', roomId);
    const rows = await db('room_members').where({ room_id: roomId }).orderBy('user_id').limit(limit + 1).offset(offset);
    res.json(toPage(rows.map(out.member), limit, offset));
  });
  r.put('/:roomId/members/:userId', async (req, res) => {
    const roomId = id(req, 'roomId');
    const userId = id(req, 'userId');
    const input = body(req, z.object({ role: role.default('member') }).strict());
    if (!(await db('rooms').where({ id: roomId }).first('id'))) throw notFound('room', roomId);
    if (!(await db('users').where({ id: userId }).first('id'))) throw notFound('user', userId);
    const result = await db.raw(
      `INSERT INTO room_members (room_id, user_id, role) VALUES (?, ?, ?)
       ON CONFLICT (room_id, user_id) DO UPDATE SET role = EXCLUDED.role
       RETURNING *, (xmax = 0) AS inserted`,
      [roomId, userId, input.role],
    );
    const row = result.rows[0];
    res.status(row.inserted ? 201 : 200).json(out.member(row));
  });
  r.delete('/:roomId/members/:userId', async (req, res) => {
    const roomId = id(req, 'roomId');
    const userId = id(req, 'userId');
    const n = await db('room_members').where({ room_id: roomId, user_id: userId }).delete();
    if (!n) throw new HttpError(404, 'not_found', `user ${userId} is not a member of room ${roomId}`);
    res.status(204).end();
  });
  return r;
}
