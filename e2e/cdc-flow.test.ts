import type { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import type { Knex } from 'knex';
import request from 'supertest';
import { ConnectClient, registerTenantConnector, removeTenantConnector, waitUntilStreaming } from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { createApp, createDb } from '@strangler/monolith';
import { randomName, scratchDatabase, testStack } from './support/env';
import { TopicReader, type ReadRecord } from './support/topic-reader';

interface Tenant {
  name: string;
  db: Awaited<ReturnType<typeof scratchDatabase>>;
  knex: Knex;
  server: Server;
  url: string;
}

/**
 * A message written through a tenant's monolith HTTP API arrives as Debezium
 * change events on that tenant's topics, in order: create, update (with the
 * before-image), delete, then the tombstone. Two tenants, each on its own
 * database and connector, never see each other's rows.
 */
describe('CDC end to end: monolith HTTP write -> PostgreSQL -> Debezium -> Kafka -> kafkajs', () => {
  const connect = new ConnectClient(testStack().connectUrl);
  const tenants: Tenant[] = [];

  beforeAll(async () => {
    for (const prefix of ['bank_a', 'bank_b']) {
      const name = randomName(prefix);
      const db = await scratchDatabase(name);
      await migrate('monolith', db.url);
      await migrate('monolith-cdc', db.url);
      const knex = createDb(db.url, 4);
      const server = createApp({ db: knex, tenant: name }).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const pg = new URL(db.url);
      await registerTenantConnector(connect, { tenant: name, host: pg.hostname, port: Number(pg.port), database: db.name, user: 'postgres' });
      tenants.push({ name, db, knex, server, url });
    }
    await Promise.all(tenants.map((t) => waitUntilStreaming(connect, t.name, t.db.url)));
  });

  afterAll(async () => {
    for (const t of tenants) {
      await new Promise((r) => t.server.close(r));
      await t.knex.destroy();
      await removeTenantConnector(connect, t.name, t.db.url);
      await t.db.drop();
    }
    const admin = new Kafka({ brokers: [testStack().kafka], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((topic) => tenants.some((t) => topic.startsWith(`${t.name}.`) || topic.endsWith(`.${t.name}`)));
    if (topics.length) await admin.deleteTopics({ topics });
    await admin.disconnect();
  });

  async function writeThroughApi(t: Tenant, body: string) {
    const user = await request(t.url).post('/api/users').send({ email: `${t.name}@bank.example`, display_name: `Owner of ${t.name}` }).expect(201);
    const room = await request(t.url).post('/api/rooms').send({ name: `room of ${t.name}`, created_by: user.body.id }).expect(201);
    const created = await request(t.url)
      .post(`/api/rooms/${room.body.id}/messages`)
      .send({ author_id: user.body.id, body, amount: '1234567.89', currency: 'CHF' })
      .expect(201);
    return { userId: user.body.id as number, roomId: room.body.id as number, messageId: created.body.id as number };
  }

  it.each([0, 1])('streams create, update, delete and tombstone of tenant %i, in order, on its own topic only', async (index) => {
    const t = tenants[index]!;
    const topic = `${t.name}.public.messages`;
    const body = `quarterly statement for ${t.name}`;
    const { messageId, roomId } = await writeThroughApi(t, body);
    await request(t.url).patch(`/api/messages/${messageId}`).send({ body: `${body} (corrected)` }).expect(200);
    // The API soft-deletes; a hard delete is what an operator's purge does, and it must stream as op d + tombstone.
    await request(t.url).delete(`/api/messages/${messageId}`).expect(204);
    await t.knex('messages').where({ id: messageId }).delete();

    const reader = await TopicReader.open([topic]);
    let records: readonly ReadRecord[];
    try {
      records = await reader.until(`4 changes and a tombstone on ${topic}`, (rs) => rs.filter((r) => r.value === null).length >= 1);
    } finally {
      await reader.close();
    }
    const mine = records.filter((r) => r.topic === topic);
    expect(mine.map((r) => r.value?.op ?? 'tombstone')).toEqual(['c', 'u', 'u', 'd', 'tombstone']);
    const [create, edit, softDelete, del, tombstone] = mine as [ReadRecord, ReadRecord, ReadRecord, ReadRecord, ReadRecord];

    expect(create.value!.before).toBeNull();
    expect(create.value!.after).toMatchObject({ id: messageId, room_id: roomId, body, amount: '1234567.89', currency: 'CHF', edit_count: 0 });
    expect(create.value!.after.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(create.value!.source).toMatchObject({ connector: 'postgresql', db: t.db.name, schema: 'public', table: 'messages' });
    expect(typeof create.value!.source.lsn).toBe('number');
    expect(create.key).toEqual({ id: messageId });

    expect(edit.value!.before).toMatchObject({ id: messageId, body, edit_count: 0 });
    expect(edit.value!.after).toMatchObject({ id: messageId, body: `${body} (corrected)`, edit_count: 1 });
    expect(edit.value!.source.lsn).toBeGreaterThan(create.value!.source.lsn);
    expect(softDelete.value!.after.deleted_at).not.toBeNull();

    expect(del.value!.before).toMatchObject({ id: messageId, body: `${body} (corrected)` });
    expect(del.value!.after).toBeNull();
    expect(tombstone.key).toEqual({ id: messageId });
  });

  it('keeps each tenant on its own topics: every event there comes from its own database', async () => {
    const topics = tenants.map((t) => `${t.name}.public.messages`);
    const reader = await TopicReader.open(topics);
    let records: readonly ReadRecord[];
    try {
      // The two tests above wrote five records on each topic.
      records = await reader.until('both tenants\' records', (rs) => topics.every((topic) => rs.filter((r) => r.topic === topic).length >= 5));
    } finally {
      await reader.close();
    }
    for (const t of tenants) {
      const mine = records.filter((r) => r.topic === `${t.name}.public.messages`);
      const sources = new Set(mine.filter((r) => r.value).map((r) => r.value!.source.db));
      expect([t.name, [...sources]]).toEqual([t.name, [t.db.name]]);
      expect(mine.filter((r) => r.value && JSON.stringify(r.value.after ?? r.value.before).includes(tenants.find((o) => o !== t)!.name))).toEqual([]);
    }
  });
});
