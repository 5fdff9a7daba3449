import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { HttpError, notFound } from '../http/errors';
import { body, id, pageQuery, query, toPage } from '../http/validate';
import * as out from '../serialize';

const role = z.enum(['client', 'advisor', 'compliance', 'admin']);
const profile = z.record(z.string(), z.unknown());
const create = z
  .object({
    email: z.string().trim().toLowerCase().email().max(320),
    display_name: z.string().trim().min(1).max(200),
    bank_role: role.optional(),
    profile: profile.optional(),
  })
  .strict();
const update = create.partial().strict().refine((v) => Object.keys(v).length > 0, 'send at least one field to change');

export function usersRouter(db: Knex): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const { limit, offset } = query(req, pageQuery);
    const rows = await db('users').orderBy('id').limit(limit + 1).offset(offset);
    res.json(toPage(rows.map(out.user), limit, offset));
  });
  r.get('/:userId', async (req, res) => {
    const userId = id(req, 'userId');
    const row = await db('users').where({ id: userId }).first();
    if (!row) throw notFound('user', userId);
    res.json(out.user(row));
  });
  r.post('/', async (req, res) => {
    const input = body(req, create);
    const existing = await db('users').where({ email: input.email }).first('id');
    if (existing) throw new HttpError(409, 'conflict', `a user with email ${input.email} already exists`);
    const [row] = await db('users')
      .insert({ ...input, profile: JSON.stringify(input.profile ?? {}) })
      .returning('*');
    res.status(201).location(`/api/users/${row.id}`).json(out.user(row));
  });
  r.patch('/:userId', async (req, res) => {
    const userId = id(req, 'userId');
    const input = body(req, update);
    const patch: Record<string, unknown> = { ...input, updated_at: db.fn.now() };
    if (input.profile) patch.profile = JSON.stringify(input.profile);
    const [row] = await db('users').where({ id: userId }).update(patch).returning('*');
    if (!row) throw notFound('user', userId);
    res.json(out.user(row));
  });
  // Users are never hard-deleted: their messages must keep an author.
  r.delete('/:userId', async (req, res) => {
    const userId = id(req, 'userId');
    const n = await db('users').where({ id: userId }).whereNull('deactivated_at').update({ deactivated_at: db.fn.now(), updated_at: db.fn.now() });
    if (!n) throw notFound('user', userId);
    res.status(204).end();
  });
  return r;
}
