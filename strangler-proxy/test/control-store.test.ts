import { ControlStore } from '../src/control/store';
import type { MismatchRecord } from '../src/parity/judge';
import { controlStore } from './support';

/** The control store against a real, migrated PostgreSQL database. */
describe('control store', () => {
  let db: Awaited<ReturnType<typeof controlStore>>;
  let store: ControlStore;

  beforeAll(async () => {
    db = await controlStore();
    store = await ControlStore.open(db.url);
  });

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  const mismatch = (tenant: string, n: number): MismatchRecord => ({
    routeId: 'room-get',
    tenant,
    request: { method: 'GET', path: `/api/rooms/${n}`, headers: {}, body: null },
    primary: { status: 200, body: `{"n":${n}}`, ms: 1 },
    shadow: { status: 200, body: `{"n":${-n}}`, ms: 1 },
    differences: [{ path: '$.n', kind: 'value', primary: n, candidate: -n }],
  });

  it('keeps the newest stored mismatches of each route and tenant, up to the limit, and drops the oldest', async () => {
    for (let n = 1; n <= 7; n++) await store.recordMismatch(mismatch('acme', n), 5);
    for (let n = 1; n <= 2; n++) await store.recordMismatch(mismatch('globex', n), 5);
    const acme = await store.mismatches('room-get', 'acme', 100);
    expect(acme.map((m) => m.request.path)).toEqual([7, 6, 5, 4, 3].map((n) => `/api/rooms/${n}`));
    expect((await store.mismatches('room-get', 'globex', 100)).map((m) => m.request.path)).toEqual(['/api/rooms/2', '/api/rooms/1']);
    await store.recordMismatch(mismatch('acme', 8), 1); // a lower limit takes effect at the next mismatch
    expect((await store.mismatches('room-get', 'acme', 100)).map((m) => m.request.path)).toEqual(['/api/rooms/8']);
  });
});
