import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { int, pick, prng } from './random';

export interface SeedOptions {
  readonly databaseUrl: string;
  readonly seed?: number;
  readonly users?: number;
  readonly rooms?: number;
  readonly messages?: number;
  /** Empty the tables first (TRUNCATE ... RESTART IDENTITY); without it, seeding a non-empty database is refused. */
  readonly reset?: boolean;
  readonly onProgress?: (table: string, rows: number) => void;
}

export interface SeedResult {
  readonly users: number;
  readonly rooms: number;
  readonly members: number;
  readonly messages: number;
  readonly ms: number;
}

const WORDS = (
  'account transfer payment compliance review statement loan mortgage rate branch advisor client ' +
  'portfolio risk audit approval deadline meeting call report quarterly balance invoice settlement ' +
  'swift iban card limit fraud alert kyc onboarding document signature contract bond equity fund ' +
  'please thanks confirm update today tomorrow urgent schedule question answer follow up regarding'
).split(' ');
const FIRST = ['Anna', 'Ben', 'Chloe', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Iris', 'Jonas', 'Klara', 'Luca', 'Mia', 'Noah', 'Olga', 'Paul'];
const LAST = ['Meyer', 'Schmidt', 'Rossi', 'Dubois', 'Novak', 'Jansen', 'Silva', 'Berg', 'Keller', 'Moreau', 'Weber', 'Costa'];
const ROLES = ['client', 'client', 'client', 'advisor', 'advisor', 'compliance', 'admin'] as const;
const KINDS = ['group', 'group', 'direct', 'announcement'] as const;
const TAGS = ['retail', 'private-banking', 'corporate', 'kyc', 'urgent', 'mortgage', 'fx', 'support'];
const CURRENCIES = ['EUR', 'CHF', 'USD', 'GBP'];
const BASE_TIME = Date.UTC(2024, 0, 1);

/** COPY text format: backslash, tab, newline and carriage return escaped; null as \N. */
function field(v: string | number | null): string {
  if (v === null) return '\\N';
  return typeof v === 'number' ? String(v) : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

function ts(ms: number): string {
  return new Date(ms).toISOString();
}

/** Rows as COPY lines, batched into chunks so the stream moves megabytes, not single rows. */
function rowsStream(count: number, row: (i: number) => (string | number | null)[], onChunk?: (rows: number) => void): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i >= count) {
        this.push(null);
        return;
      }
      const end = Math.min(count, i + 5000);
      let chunk = '';
      for (; i < end; i++) chunk += row(i).map(field).join('\t') + '\n';
      onChunk?.(i);
      this.push(chunk);
    },
  });
}

async function copy(client: Client, sql: string, source: Readable): Promise<void> {
  await pipeline(source, client.query(copyFrom(sql)));
}

function sentence(rand: () => number, words: number): string {
  const out: string[] = [];
  for (let w = 0; w < words; w++) out.push(pick(rand, WORDS));
  const s = out.join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1) + '.';
}

/**
 * Fills one tenant's monolith database with deterministic data (same seed,
 * same rows, byte for byte) through COPY: users, rooms, members, messages.
 */
export async function generateTenantData(options: SeedOptions): Promise<SeedResult> {
  const started = Date.now();
  const seed = options.seed ?? 42;
  const nUsers = options.users ?? 1000;
  const nRooms = options.rooms ?? Math.max(1, Math.ceil(nUsers / 2));
  const nMessages = options.messages ?? 10_000;
  const client = new Client({ connectionString: options.databaseUrl });
  await client.connect();
  try {
    if (options.reset) {
      await client.query('TRUNCATE messages, room_members, rooms, users RESTART IDENTITY CASCADE');
    } else {
      const { rows } = await client.query<{ n: string }>('SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM rooms) AS n');
      if (Number(rows[0]?.n) > 0) {
        throw new Error('this database already holds users or rooms: seed an empty tenant, or pass reset (--reset) to empty it first');
      }
    }
    // Each table gets its own stream of randomness, so changing one count leaves the other tables' rows as they were.
    const userRand = prng(seed * 4 + 1);
    await copy(
      client,
      'COPY users (id, email, display_name, bank_role, profile, created_at, updated_at) FROM STDIN',
      rowsStream(nUsers, (i) => {
        const id = i + 1;
        const first = pick(userRand, FIRST);
        const last = pick(userRand, LAST);
        const created = ts(BASE_TIME + id * 60_000);
        const profile = JSON.stringify({ locale: pick(userRand, ['de-CH', 'fr-CH', 'en-GB', 'it-CH']), desk: int(userRand, 1, 40) });
        return [id, `${first}.${last}.${id}@bank.example`.toLowerCase(), `${first} ${last}`, pick(userRand, ROLES), profile, created, created];
      }, (n) => options.onProgress?.('users', n)),
    );

    const roomRand = prng(seed * 4 + 2);
    const members: [number, number, string][] = [];
    await copy(
      client,
      'COPY rooms (id, name, topic, kind, tags, settings, created_by, created_at, updated_at) FROM STDIN',
      rowsStream(nRooms, (i) => {
        const id = i + 1;
        const kind = pick(roomRand, KINDS);
        const owner = int(roomRand, 1, nUsers);
        const size = kind === 'direct' ? 2 : int(roomRand, 2, Math.min(12, nUsers));
        const seen = new Set([owner]);
        members.push([id, owner, 'owner']);
        while (seen.size < Math.min(size, nUsers)) {
          const u = int(roomRand, 1, nUsers);
          if (seen.has(u)) continue;
          seen.add(u);
          members.push([id, u, roomRand() < 0.1 ? 'observer' : 'member']);
        }
        const tags = `{${[pick(roomRand, TAGS), pick(roomRand, TAGS)].filter((t, k, a) => a.indexOf(t) === k).join(',')}}`;
        const settings = JSON.stringify({ retention_days: pick(roomRand, [30, 365, 3650]), notifications: roomRand() < 0.8 });
        const created = ts(BASE_TIME + nUsers * 60_000 + id * 30_000);
        return [id, `${pick(roomRand, WORDS)}-${id}`, roomRand() < 0.7 ? sentence(roomRand, 6) : null, kind, tags, settings, owner, created, created];
      }, (n) => options.onProgress?.('rooms', n)),
    );
    await copy(
      client,
      'COPY room_members (room_id, user_id, role, joined_at) FROM STDIN',
      rowsStream(members.length, (i) => {
        const [roomId, userId, role] = members[i]!;
        return [roomId, userId, role, ts(BASE_TIME + nUsers * 60_000 + roomId * 30_000 + 1000)];
      }),
    );

    const msgRand = prng(seed * 4 + 3);
    const firstMessageAt = BASE_TIME + (nUsers * 60 + nRooms * 30 + 3600) * 1000;
    await copy(
      client,
      'COPY messages (id, room_id, author_id, body, format, attachments, amount, currency, edit_count, created_at, updated_at, edited_at, deleted_at) FROM STDIN',
      rowsStream(nMessages, (i) => {
        const id = i + 1;
        // Members are grouped by room in order, so a room's members are a contiguous slice.
        const m = members[int(msgRand, 0, members.length - 1)]!;
        const large = msgRand() < 0.0005;
        const body = large ? sentence(msgRand, 8000) : sentence(msgRand, int(msgRand, 3, 30));
        const payment = msgRand() < 0.02;
        const attachments = msgRand() < 0.05 ? JSON.stringify([{ name: `statement-${id}.pdf`, size: int(msgRand, 1000, 900000), content_type: 'application/pdf' }]) : '[]';
        const createdMs = firstMessageAt + id * 1000 + int(msgRand, 0, 999);
        const edited = msgRand() < 0.03;
        const deleted = msgRand() < 0.01;
        const updatedMs = createdMs + (edited || deleted ? 120_000 : 0);
        return [
          id,
          m[0],
          m[1],
          body,
          msgRand() < 0.2 ? 'markdown' : 'plain',
          attachments,
          payment ? `${int(msgRand, 1, 250000)}.${String(int(msgRand, 0, 99)).padStart(2, '0')}` : null,
          payment ? pick(msgRand, CURRENCIES) : null,
          edited ? 1 : 0,
          ts(createdMs),
          ts(updatedMs),
          edited ? ts(updatedMs) : null,
          deleted ? ts(updatedMs) : null,
        ];
      }, (n) => options.onProgress?.('messages', n)),
    );
    for (const [table, seq] of [['users', 'users_id_seq'], ['rooms', 'rooms_id_seq'], ['messages', 'messages_id_seq']] as const) {
      await client.query(`SELECT setval('${seq}', GREATEST((SELECT max(id) FROM ${table}), 1), (SELECT count(*) > 0 FROM ${table}))`);
    }
    await client.query('ANALYZE users, rooms, room_members, messages');
    return { users: nUsers, rooms: nRooms, members: members.length, messages: nMessages, ms: Date.now() - started };
  } finally {
    await client.end();
  }
}
