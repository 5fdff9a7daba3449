import { ControlStore } from '../src/control/store';
import type { MismatchRecord } from '../src/parity/judge';
import { Client } from 'pg';
import { databaseUrl } from '@strangler/migrations';
import { randomName, scratchDatabase, testStack } from '../../e2e/support/env';
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

  it('prepares a store of its own: creates the database and its tables; without prepare, names the command that does', async () => {
    const name = randomName('ctlnew');
    const url = databaseUrl(testStack().pgAdminUrl, name);
    const fresh = await ControlStore.open(url, { prepare: true });
    const admin = new Client({ connectionString: testStack().pgAdminUrl });
    await admin.connect();
    try {
      expect(await fresh.gateControls()).toBeDefined();
      await fresh.close();
      // Twice at once (replicas starting together): both find it ready.
      await Promise.all([ControlStore.open(url, { prepare: true }), ControlStore.open(url, { prepare: true })]).then((both) => Promise.all(both.map((s) => s.close())));
      const empty = await scratchDatabase('ctlempty');
      try {
        const refused = await ControlStore.open(empty.url).catch((err: Error) => err);
        expect(refused).toMatchObject({ code: 'STR_ERR_CONTROL_STORE_NOT_MIGRATED' });
        expect((refused as Error).message).toBe(
          `the control store has no route_modes table: set controlStore.prepare: true (the default) to let the proxy prepare it, or run \`npm run migrate -- latest control --database-url ${empty.url}\` first`,
        );
      } finally {
        await empty.drop();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
