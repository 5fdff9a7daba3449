import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import { migrate } from '@strangler/migrations';
import { createApp, createDb } from '@strangler/monolith';
import { scratchDatabase } from '../../e2e/support/env';

let db: Awaited<ReturnType<typeof scratchDatabase>>;
let knex: Knex;
let app: Express;

beforeAll(async () => {
  db = await scratchDatabase('mono_api');
  await migrate('monolith', db.url);
  knex = createDb(db.url, 4);
  app = createApp({ db: knex, tenant: 'acme' });
});

afterAll(async () => {
  await knex.destroy();
  await db.drop();
});

async function seedRoom() {
  const email = `u${Math.random().toString(36).slice(2)}@bank.example`;
  const user = await request(app).post('/api/users').send({ email, display_name: 'Ada Advisor', bank_role: 'advisor' }).expect(201);
  const room = await request(app).post('/api/rooms').send({ name: 'FX desk', created_by: user.body.id, tags: ['fx'], settings: { retention_days: 365 } }).expect(201);
  return { userId: user.body.id as number, roomId: room.body.id as number };
}

describe('monolith REST API', () => {
  it('creates, reads, lists, updates and soft-deletes messages', async () => {
    const { userId, roomId } = await seedRoom();
    const created = await request(app)
      .post(`/api/rooms/${roomId}/messages`)
      .send({ author_id: userId, body: 'Please confirm the transfer', format: 'markdown', amount: '250000.10', currency: 'EUR' })
      .expect(201);
    expect(created.headers.location).toBe(`/api/messages/${created.body.id}`);
    expect(created.body).toMatchObject({ room_id: roomId, author_id: userId, amount: '250000.10', currency: 'EUR', edit_count: 0, edited_at: null, deleted_at: null });
    expect(typeof created.body.id).toBe('number');

    const got = await request(app).get(`/api/messages/${created.body.id}`).expect(200);
    expect(got.body).toEqual(created.body);

    const edited = await request(app).patch(`/api/messages/${created.body.id}`).send({ body: 'Please confirm the transfer today' }).expect(200);
    expect(edited.body).toMatchObject({ body: 'Please confirm the transfer today', edit_count: 1 });
    expect(edited.body.edited_at).not.toBeNull();

    await request(app).delete(`/api/messages/${created.body.id}`).expect(204);
    await request(app).get(`/api/messages/${created.body.id}`).expect(404);
    await request(app).delete(`/api/messages/${created.body.id}`).expect(404);
    const row = await knex('messages').where({ id: created.body.id }).first();
    expect(row.deleted_at).not.toBeNull();
    const all = await request(app).get(`/api/rooms/${roomId}/messages?include_deleted=true`).expect(200);
    expect(all.body.data.map((m: { id: number }) => m.id)).toContain(created.body.id);
    const visible = await request(app).get(`/api/rooms/${roomId}/messages`).expect(200);
    expect(visible.body.data.map((m: { id: number }) => m.id)).not.toContain(created.body.id);
  });

  it('paginates with limit and offset and says where the next page starts', async () => {
    const { userId, roomId } = await seedRoom();
    for (let i = 0; i < 5; i++) await request(app).post(`/api/rooms/${roomId}/messages`).send({ author_id: userId, body: `m${i}` }).expect(201);
    const first = await request(app).get(`/api/rooms/${roomId}/messages?limit=2`).expect(200);
    expect(first.body.data.map((m: { body: string }) => m.body)).toEqual(['m0', 'm1']);
    expect(first.body.page).toEqual({ limit: 2, offset: 0, next_offset: 2 });
    const last = await request(app).get(`/api/rooms/${roomId}/messages?limit=2&offset=4`).expect(200);
    expect(last.body.data.map((m: { body: string }) => m.body)).toEqual(['m4']);
    expect(last.body.page.next_offset).toBeNull();
  });

  it('searches message bodies by words', async () => {
    const { userId, roomId } = await seedRoom();
    await request(app).post(`/api/rooms/${roomId}/messages`).send({ author_id: userId, body: 'mortgage renewal for Zurich branch' }).expect(201);
    await request(app).post(`/api/rooms/${roomId}/messages`).send({ author_id: userId, body: 'card limit raised' }).expect(201);
    const hits = await request(app).get(`/api/messages/search?q=mortgage%20zurich&room_id=${roomId}`).expect(200);
    expect(hits.body.data.map((m: { body: string }) => m.body)).toEqual(['mortgage renewal for Zurich branch']);
    await request(app).get('/api/messages/search').expect(400);
  });

  it('stores a large body whole', async () => {
    const { userId, roomId } = await seedRoom();
    const body = 'statement line\n'.repeat(60_000);
    const created = await request(app).post(`/api/rooms/${roomId}/messages`).send({ author_id: userId, body }).expect(201);
    const got = await request(app).get(`/api/messages/${created.body.id}`).expect(200);
    expect(got.body.body).toHaveLength(body.length);
  });

  it('manages rooms and members', async () => {
    const { userId, roomId } = await seedRoom();
    const other = await request(app).post('/api/users').send({ email: 'client.one@bank.example', display_name: 'Client One' }).expect(201);
    await request(app).put(`/api/rooms/${roomId}/members/${other.body.id}`).send({ role: 'observer' }).expect(201);
    await request(app).put(`/api/rooms/${roomId}/members/${other.body.id}`).send({ role: 'member' }).expect(200);
    const members = await request(app).get(`/api/rooms/${roomId}/members`).expect(200);
    expect(members.body.data.map((m: { user_id: number; role: string }) => [m.user_id, m.role])).toEqual([
      [userId, 'owner'],
      [other.body.id, 'member'],
    ]);
    await request(app).delete(`/api/rooms/${roomId}/members/${other.body.id}`).expect(204);
    const archived = await request(app).patch(`/api/rooms/${roomId}`).send({ archived: true }).expect(200);
    expect(archived.body.archived_at).not.toBeNull();
    await request(app).post(`/api/rooms/${roomId}/messages`).send({ author_id: userId, body: 'late' }).expect(409);
    await request(app).delete(`/api/rooms/${roomId}`).expect(204);
    await request(app).get(`/api/rooms/${roomId}`).expect(404);
  });
});

describe('monolith bad input: always a 4xx with a JSON error, never a 500 or a stack', () => {
  const cases: [string, () => request.Test, number, string][] = [
    ['malformed JSON', () => request(app).post('/api/users').set('content-type', 'application/json').send('{"email": '), 400, 'malformed_json'],
    ['a non-JSON body', () => request(app).post('/api/users').set('content-type', 'text/plain').send('hello'), 415, 'unsupported_media_type'],
    ['an unknown field', () => request(app).post('/api/users').send({ email: 'x@bank.example', display_name: 'X', admin: true }), 400, 'invalid_request'],
    ['an invalid email', () => request(app).post('/api/users').send({ email: 'nope', display_name: 'X' }), 400, 'invalid_request'],
    ['a non-numeric id', () => request(app).get('/api/rooms/abc'), 400, 'invalid_id'],
    ['an id beyond the column', () => request(app).get('/api/rooms/99999999999'), 400, 'invalid_id'],
    ['an unknown room', () => request(app).get('/api/rooms/987654'), 404, 'not_found'],
    ['an unknown message', () => request(app).patch('/api/messages/987654').send({ body: 'x' }), 404, 'not_found'],
    ['an unknown route', () => request(app).get('/api/nothing'), 404, 'route_not_found'],
    ['a bad page size', () => request(app).get('/api/rooms?limit=5000'), 400, 'invalid_request'],
    ['an amount without currency', () => request(app).post('/api/rooms/1/messages').send({ author_id: 1, body: 'x', amount: '1.00' }), 400, 'invalid_request'],
    ['an empty patch', () => request(app).patch('/api/rooms/1').send({}), 400, 'invalid_request'],
    ['a body over the limit', () => request(app).post('/api/users').send({ email: 'x@bank.example', display_name: 'x'.repeat(3_000_000) }), 413, 'body_too_large'],
  ];

  it.each(cases)('%s', async (_name, send, status, code) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
  });

  it('names each invalid field', async () => {
    const res = await request(app).post('/api/rooms').send({ name: '', kind: 'party', tags: 'fx' }).expect(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body.kind', 'body.name', 'body.tags']);
  });

  it('answers a reference to an unknown user with 422 and a duplicate email with 409', async () => {
    const { roomId } = await seedRoom();
    const res = await request(app).post(`/api/rooms/${roomId}/messages`).send({ author_id: 424242, body: 'x' }).expect(422);
    expect(res.body.error.details).toEqual([{ path: 'body.author_id', message: 'unknown user' }]);
    await request(app).post('/api/users').send({ email: 'dup@bank.example', display_name: 'A' }).expect(201);
    await request(app).post('/api/users').send({ email: 'DUP@bank.example', display_name: 'B' }).expect(409);
  });
});
