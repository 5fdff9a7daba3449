import { Client } from 'pg';
import { migrate } from '@strangler/migrations';
import { generateTenantData } from '@strangler/monolith';
import { scratchDatabase } from '../../e2e/support/env';

async function checksum(url: string): Promise<Record<string, string>> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, string> = {};
    for (const [table, order] of [['users', 'id'], ['rooms', 'id'], ['room_members', 'room_id, user_id'], ['messages', 'id']] as const) {
      const { rows } = await c.query<{ md5: string; n: string }>(`SELECT md5(string_agg(t::text, '|' ORDER BY ${order})) AS md5, count(*) AS n FROM ${table} t`);
      out[table] = `${rows[0]!.n}:${rows[0]!.md5}`;
    }
    return out;
  } finally {
    await c.end();
  }
}

describe('seeded data generator', () => {
  const dbs: Awaited<ReturnType<typeof scratchDatabase>>[] = [];
  afterAll(async () => Promise.all(dbs.map((d) => d.drop())));

  async function seeded(seed: number) {
    const db = await scratchDatabase('seed');
    dbs.push(db);
    await migrate('monolith', db.url);
    const result = await generateTenantData({ databaseUrl: db.url, seed, users: 50, rooms: 20, messages: 3000 });
    return { db, result };
  }

  it('yields the same rows for the same seed, and other rows for another seed', async () => {
    const a = await seeded(7);
    const b = await seeded(7);
    const c = await seeded(8);
    expect(a.result).toMatchObject({ users: 50, rooms: 20, messages: 3000 });
    const [sa, sb, sc] = await Promise.all([checksum(a.db.url), checksum(b.db.url), checksum(c.db.url)]);
    expect(sa).toEqual(sb);
    expect(sa.messages).not.toEqual(sc.messages);
    expect(sa.messages!.startsWith('3000:')).toBe(true);
  });

  it('leaves sequences after the data, so the API keeps inserting', async () => {
    const { db } = await seeded(9);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query<{ id: string }>(`INSERT INTO users (email, display_name) VALUES ('new@bank.example', 'New') RETURNING id`);
    await c.end();
    expect(Number(rows[0]!.id)).toBe(51);
  });

  it('refuses to seed a tenant that already has data, unless asked to reset', async () => {
    const { db } = await seeded(10);
    await expect(generateTenantData({ databaseUrl: db.url, users: 5, messages: 10 })).rejects.toThrow(
      'this database already holds users or rooms: seed an empty tenant, or pass reset (--reset) to empty it first',
    );
    await expect(generateTenantData({ databaseUrl: db.url, users: 5, rooms: 2, messages: 10, reset: true })).resolves.toMatchObject({ users: 5, messages: 10 });
  });
});
