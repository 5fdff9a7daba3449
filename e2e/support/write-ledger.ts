import { request } from 'undici';

/** What a client was told succeeded, per tenant: the state its acknowledged writes left. */
export interface Ledger {
  readonly rooms: Map<number, { name: string; deleted: boolean }>;
  readonly messages: Map<number, { room: number; body: string; deleted: boolean }>;
  readonly members: Map<string, string | null>;
  acknowledged: number;
  /** 503 with Retry-After: held past a hand-over's bound; the write was not made and is tried again. */
  held503: number;
  /** Anything else that was not a success: must stay empty. */
  readonly failures: string[];
}

export const newLedger = (): Ledger => ({ rooms: new Map(), messages: new Map(), members: new Map(), acknowledged: 0, held503: 0, failures: [] });

let unique = 0;
const token = () => `w${process.pid}x${Date.now().toString(36)}x${(++unique).toString(36)}`;

/**
 * A steady mixed write load through the proxy for one tenant (create, edit,
 * delete of rooms, members and messages), each worker on rooms of its own so
 * the expected state is exact; every 2xx goes into the ledger.
 */
export function writeLoad(proxyUrl: string, tenant: string, ledger: Ledger, workers = 2, pauseMs = 2): { stop(): Promise<void> } {
  let stopped = false;
  const host = `${tenant}.localhost`;
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any } | null> => {
    const res = await request(`${proxyUrl}${path}`, {
      method: method as 'GET',
      headers: { host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    if (res.statusCode === 503 && res.headers['retry-after'] !== undefined) {
      ledger.held503++;
      return null;
    }
    if (res.statusCode >= 300) {
      ledger.failures.push(`${method} ${path} -> ${res.statusCode} ${text.slice(0, 300)}`);
      return null;
    }
    ledger.acknowledged++;
    return { status: res.statusCode, json: text ? JSON.parse(text) : null };
  };
  const worker = async () => {
    const mine: number[] = [];
    const myMessages: number[] = [];
    while (!stopped) {
      const r = Math.random();
      try {
        if (mine.length === 0 || r < 0.06) {
          const name = `room ${token()}`;
          const a = await call('POST', '/api/rooms', { name, created_by: 1 });
          if (a) {
            mine.push(a.json.id);
            ledger.rooms.set(a.json.id, { name, deleted: false });
            ledger.members.set(`${a.json.id}:1`, 'owner');
          }
        } else if (r < 0.5) {
          const room = mine[Math.floor(Math.random() * mine.length)]!;
          const body = `message ${token()}`;
          const a = await call('POST', `/api/rooms/${room}/messages`, { author_id: 1, body });
          if (a) {
            myMessages.push(a.json.id);
            ledger.messages.set(a.json.id, { room, body, deleted: false });
          }
        } else if (r < 0.68 && myMessages.length > 0) {
          const id = myMessages[Math.floor(Math.random() * myMessages.length)]!;
          const body = `edited ${token()}`;
          if (await call('PATCH', `/api/messages/${id}`, { body })) ledger.messages.get(id)!.body = body;
        } else if (r < 0.76 && myMessages.length > 0) {
          const id = myMessages.splice(Math.floor(Math.random() * myMessages.length), 1)[0]!;
          if (await call('DELETE', `/api/messages/${id}`)) ledger.messages.get(id)!.deleted = true;
          else myMessages.push(id);
        } else if (r < 0.86) {
          const room = mine[Math.floor(Math.random() * mine.length)]!;
          const key = `${room}:2`;
          if (ledger.members.get(key)) {
            if (await call('DELETE', `/api/rooms/${room}/members/2`)) ledger.members.set(key, null);
          } else if (await call('PUT', `/api/rooms/${room}/members/2`, { role: 'member' })) ledger.members.set(key, 'member');
        } else {
          const room = mine[Math.floor(Math.random() * mine.length)]!;
          const name = `renamed ${token()}`;
          if (await call('PATCH', `/api/rooms/${room}`, { name })) ledger.rooms.get(room)!.name = name;
        }
      } catch (err) {
        ledger.failures.push(`client error: ${(err as Error).message}`);
      }
      if (pauseMs > 0) await new Promise((res) => setTimeout(res, pauseMs));
    }
  };
  const running = Array.from({ length: workers }, () => worker());
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/**
 * What in a database disagrees with the ledger: an acknowledged write
 * missing or different, a room or message made twice (the same unique text
 * under two ids). `tenant` scopes a service's multi-tenant copy.
 */
export async function ledgerProblems(db: import('knex').Knex, ledger: Ledger, tenant: string | null): Promise<string[]> {
  const scope = (t: string) => (tenant === null ? db(t) : db(t).where({ tenant }));
  const problems: string[] = [];
  const rooms = new Map<number, { name: string }>((await scope('rooms').select('id', 'name')).map((r: { id: number; name: string }) => [Number(r.id), r]));
  for (const [id, want] of ledger.rooms) {
    const got = rooms.get(id);
    if (!got) problems.push(`room ${id} acknowledged, missing`);
    else if (got.name !== want.name) problems.push(`room ${id}: name ${JSON.stringify(got.name)}, acknowledged ${JSON.stringify(want.name)}`);
  }
  const messages = new Map<number, { body: string; deleted_at: Date | null }>((await scope('messages').select('id', 'body', 'deleted_at')).map((m: { id: number; body: string; deleted_at: Date | null }) => [Number(m.id), m]));
  for (const [id, want] of ledger.messages) {
    const got = messages.get(id);
    if (!got) problems.push(`message ${id} acknowledged, missing`);
    else if (got.body !== want.body || (got.deleted_at !== null) !== want.deleted) problems.push(`message ${id}: ${JSON.stringify(got.body)} deleted=${got.deleted_at !== null}, acknowledged ${JSON.stringify(want.body)} deleted=${want.deleted}`);
  }
  const members = new Map<string, string>((await scope('room_members').select('room_id', 'user_id', 'role')).map((m: { room_id: number; user_id: number; role: string }) => [`${m.room_id}:${m.user_id}`, m.role]));
  for (const [key, want] of ledger.members) {
    const got = members.get(key) ?? null;
    if (got !== want) problems.push(`member ${key}: ${got}, acknowledged ${want}`);
  }
  const twice = [
    ...(await scope('messages').select('body').count('* as n').groupBy('body').havingRaw('count(*) > 1')),
    ...(await scope('rooms').select('name as body').count('* as n').groupBy('name').havingRaw('count(*) > 1')),
  ] as Array<{ body: string; n: string }>;
  for (const t of twice) problems.push(`${JSON.stringify(t.body)} is there ${t.n} times`);
  return problems;
}
