import knexFactory, { type Knex } from 'knex';
import supertest from 'supertest';
import { mirrorProjection, readTableSpec } from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { createApp, createDb } from '@strangler/monolith';
import { expectParity, type ParityRequest } from '@strangler/proxy';
import { scratchDatabase } from '../../../e2e/support/env';
import { createMessagingApp } from '../src/app';

/**
 * The service's write API against the monolith's own, request by request:
 * each write is sent for real to the monolith and as a dry run to the
 * service (whose copy holds what the monolith held just before), and the two
 * answers must be the same (status, Content-Type, Location, the JSON body;
 * times within 5 s, since each database stamps its own). Then: a dry run
 * leaves nothing behind, a real write commits only for a tenant the service
 * owns, and ids continue where the copy ends.
 */
describe('messaging service writes: the monolith\'s contract', () => {
  const tenant = 'acme';
  let monolithDb: Awaited<ReturnType<typeof scratchDatabase>>;
  let serviceDb: Awaited<ReturnType<typeof scratchDatabase>>;
  let mono: Knex;
  let svc: Knex;
  let monolith: ReturnType<typeof createApp>;
  let service: ReturnType<typeof createMessagingApp>;

  beforeAll(async () => {
    [monolithDb, serviceDb] = await Promise.all([scratchDatabase('wmono'), scratchDatabase('wsvc')]);
    await migrate('monolith', monolithDb.url);
    await migrate('extracted', serviceDb.url);
    mono = createDb(monolithDb.url);
    svc = knexFactory({ client: 'pg', connection: serviceDb.url, pool: { min: 0, max: 4 } });
    const tables = await Promise.all(['users', 'rooms', 'room_members', 'messages'].map((t) => readTableSpec(monolithDb.url, `public.${t}`, t)));
    await mirrorProjection('copies', tables).setup!(svc);
    monolith = createApp({ db: mono, tenant });
    service = createMessagingApp(svc, () => [], { dryRunHeader: 'x-strangler-dry-run' });
    const post = (path: string, body: unknown) => supertest(monolith).post(path).send(body as object).expect((r) => expect(r.status).toBe(201));
    await post('/api/users', { email: 'ada@bank.example', display_name: 'Ada' });
    await post('/api/users', { email: 'bo@bank.example', display_name: 'Bo' });
    await post('/api/rooms', { name: 'FX desk', created_by: 1, tags: ['fx'] });
    await post('/api/rooms/1/messages', { author_id: 1, body: 'Please confirm', amount: '1250.10', currency: 'CHF' });
    await sync();
  });

  afterAll(async () => {
    await mono?.destroy();
    await svc?.destroy();
    await monolithDb?.drop();
    await serviceDb?.drop();
  });

  /** The copy made equal to the monolith, as the change stream would make it. */
  async function sync(): Promise<void> {
    for (const table of ['messages', 'room_members', 'rooms', 'users']) await svc(table).where({ tenant }).delete();
    for (const table of ['users', 'rooms', 'room_members', 'messages']) {
      const rows = await mono(table).select('*');
      if (rows.length > 0) await svc(table).insert(rows.map((r: Record<string, unknown>) => ({ tenant, ...r, ...('settings' in r ? { settings: JSON.stringify(r.settings) } : {}), ...('attachments' in r ? { attachments: JSON.stringify(r.attachments) } : {}), ...('profile' in r ? { profile: JSON.stringify(r.profile) } : {}) })));
    }
  }

  const rules = { headers: ['content-type', 'location'], timeToleranceMs: 5000, learnNoise: false };
  const same = async (r: ParityRequest) => {
    const c = await expectParity(r, { monolith, candidate: service, candidateHeaders: { 'x-strangler-tenant': tenant, 'x-strangler-dry-run': '1' }, ...rules });
    await sync();
    return c;
  };
  const json = { 'content-type': 'application/json' };

  // [what, request] in order: each one's state is what the ones before left.
  const writes: Array<[string, ParityRequest]> = [
    ['create a room (201, Location, the owner made a member)', { method: 'POST', path: '/api/rooms', headers: json, body: { name: 'Rates', created_by: 2, kind: 'announcement', tags: ['eur', 'chf'], settings: { muted: true } } }],
    ['create a room with defaults', { method: 'POST', path: '/api/rooms', headers: json, body: { name: 'Plain' } }],
    ['refuse invalid fields, each named (400)', { method: 'POST', path: '/api/rooms', headers: json, body: { name: '', kind: 'party', extra: 1 } }],
    ['refuse an unknown creator (422)', { method: 'POST', path: '/api/rooms', headers: json, body: { name: 'x', created_by: 99 } }],
    ['refuse malformed JSON (400)', { method: 'POST', path: '/api/rooms', headers: json, body: '{"name": ' }],
    ['refuse a body that is not JSON (415)', { method: 'POST', path: '/api/rooms', headers: { 'content-type': 'text/plain' }, body: 'name=x' }],
    ['rename a room', { method: 'PATCH', path: '/api/rooms/2', headers: json, body: { name: 'Rates desk', topic: 'EUR/CHF' } }],
    ['refuse an empty change (400)', { method: 'PATCH', path: '/api/rooms/2', headers: json, body: {} }],
    ['refuse an unknown room (404)', { method: 'PATCH', path: '/api/rooms/77', headers: json, body: { name: 'y' } }],
    ['refuse a bad id (400)', { method: 'PATCH', path: '/api/rooms/abc', headers: json, body: { name: 'y' } }],
    ['add a member (201)', { method: 'PUT', path: '/api/rooms/2/members/1', headers: json, body: { role: 'observer' } }],
    ['change a member\'s role (200)', { method: 'PUT', path: '/api/rooms/2/members/1', headers: json, body: { role: 'member' } }],
    ['refuse an unknown user (404)', { method: 'PUT', path: '/api/rooms/2/members/42', headers: json, body: {} }],
    ['remove a member (204)', { method: 'DELETE', path: '/api/rooms/2/members/1' }],
    ['refuse removing a non-member (404)', { method: 'DELETE', path: '/api/rooms/2/members/1' }],
    ['post a message (201, Location)', { method: 'POST', path: '/api/rooms/2/messages', headers: json, body: { author_id: 2, body: 'Rates fixed', format: 'markdown', attachments: [{ name: 'r.pdf', size: 10, content_type: 'application/pdf' }] } }],
    ['refuse an amount without currency (400)', { method: 'POST', path: '/api/rooms/2/messages', headers: json, body: { author_id: 2, body: 'x', amount: '1.00' } }],
    ['refuse an unknown author (422)', { method: 'POST', path: '/api/rooms/2/messages', headers: json, body: { author_id: 9, body: 'x' } }],
    ['edit a message (edit_count 1)', { method: 'PATCH', path: '/api/messages/2', headers: json, body: { body: 'Rates fixed at 0.94' } }],
    ['delete a message (204)', { method: 'DELETE', path: '/api/messages/2' }],
    ['refuse deleting it again (404)', { method: 'DELETE', path: '/api/messages/2' }],
    ['refuse editing a deleted message (404)', { method: 'PATCH', path: '/api/messages/2', headers: json, body: { body: 'z' } }],
    ['archive a room', { method: 'PATCH', path: '/api/rooms/2', headers: json, body: { archived: true } }],
    ['refuse a message in an archived room (409)', { method: 'POST', path: '/api/rooms/2/messages', headers: json, body: { author_id: 2, body: 'late' } }],
    ['delete a room with its members and messages (204)', { method: 'DELETE', path: '/api/rooms/1' }],
    ['refuse deleting it again (404)', { method: 'DELETE', path: '/api/rooms/1' }],
  ];
  it.each(writes)('%s', async (_what, r) => {
    await same(r);
  });

  it('leaves nothing behind in a dry run', async () => {
    const before = await svc.raw("SELECT (SELECT count(*) FROM rooms) AS rooms, (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM strangler.id_allocations) AS allocations");
    const r = await supertest(service).post('/api/rooms').set('x-strangler-tenant', tenant).set('x-strangler-dry-run', '1').send({ name: 'ghost' });
    expect(r.status).toBe(201);
    const after = await svc.raw("SELECT (SELECT count(*) FROM rooms) AS rooms, (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM strangler.id_allocations) AS allocations");
    expect(after.rows).toEqual(before.rows);
  });

  it('refuses a real write for a tenant it does not own (409 not_owner), and commits one for a tenant it owns, ids after the copy\'s', async () => {
    const refused = await supertest(service).post('/api/rooms').set('x-strangler-tenant', tenant).send({ name: 'real' });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ error: { code: 'not_owner', message: "the monolith owns tenant acme's rooms and messages: write through it (the proxy sends writes to the domain's owner)" } });
    await svc.raw("INSERT INTO strangler.domain_owners (tenant, domain, owner, epoch) VALUES (?, 'messaging', 'service', 1)", [tenant]);
    const maxId = Number((await mono('rooms').max('id as m'))[0]!.m);
    const created = await supertest(service).post('/api/rooms').set('x-strangler-tenant', tenant).send({ name: 'real', created_by: 1 });
    expect(created.status).toBe(201);
    expect(created.body.id).toBe(maxId + 1);
    expect(created.headers.location).toBe(`/api/rooms/${maxId + 1}`);
    const again = await supertest(service).post('/api/rooms').set('x-strangler-tenant', tenant).send({ name: 'real 2' });
    expect(again.body.id).toBe(maxId + 2);
    expect(await svc('room_members').where({ tenant, room_id: maxId + 1 }).first()).toMatchObject({ user_id: 1, role: 'owner' });
    // Another tenant's rows are not this tenant's: scoped by tenant.
    const other = await supertest(service).patch(`/api/rooms/${maxId + 1}`).set('x-strangler-tenant', 'globex').set('x-strangler-dry-run', '1').send({ name: 'not yours' });
    expect(other.status).toBe(404);
  });
});
