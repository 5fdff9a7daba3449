import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { scratchDatabase } from '../../e2e/support/env';
import { compareTableData, formatDataParity } from '../src/parity/data';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '..', '..');
const ROWS = 1_000_000;

/** The same deterministic 1,000,000 rows, every column type the legacy schema uses, in a monolith database and (with a tenant column) in a service database. */
const generated = `SELECT g AS id, 'acct-' || (g % 9973) AS account, ((g * 37) % 100000)::numeric / 100 AS amount,
  timestamptz '2026-01-01 00:00:00.123456+00' + g * interval '1 second' AS booked_at,
  ARRAY['t' || (g % 7), 't' || (g % 11)] AS tags, jsonb_build_object('n', g, 'odd', g % 2 = 1) AS meta FROM generate_series(1, ${ROWS}) g`;

describe('data parity', () => {
  let source: Awaited<ReturnType<typeof scratchDatabase>>;
  let service: Awaited<ReturnType<typeof scratchDatabase>>;
  let svc: Client;

  beforeAll(async () => {
    [source, service] = await Promise.all([scratchDatabase('dpsrc'), scratchDatabase('dpsvc')]);
    const src = new Client({ connectionString: source.url });
    svc = new Client({ connectionString: service.url });
    await Promise.all([src.connect(), svc.connect()]);
    const columns = 'id bigint, account text NOT NULL, amount numeric(18,2), booked_at timestamptz(6), tags text[], meta jsonb';
    await Promise.all([
      src.query(`CREATE TABLE ledger (${columns}, PRIMARY KEY (id)); INSERT INTO ledger ${generated}; ANALYZE ledger`),
      svc.query(`CREATE TABLE ledger (tenant text NOT NULL, ${columns}, PRIMARY KEY (tenant, id)); INSERT INTO ledger SELECT 'acme', x.* FROM (${generated}) x; INSERT INTO ledger SELECT 'globex', x.* FROM (${generated.replace(`generate_series(1, ${ROWS})`, 'generate_series(1, 1000)')}) x; ANALYZE ledger`),
    ]);
    await src.end();
  }, 300_000);

  afterAll(async () => {
    await svc?.end();
    await source?.drop();
    await service?.drop();
  });

  const compare = () => compareTableData({ sourceUrl: source.url, serviceUrl: service.url, tenant: 'acme', table: 'ledger' });

  it('finds one changed row, one missing and one extra among 1,000,000, and names their columns', async () => {
    const same = await compare();
    expect({ equal: same.equal, rows: same.rows, differing: same.buckets.differing }).toEqual({ equal: true, rows: { source: ROWS, service: ROWS }, differing: 0 });
    await svc.query(`UPDATE ledger SET amount = amount + 0.01 WHERE tenant = 'acme' AND id = 777777`);
    await svc.query(`DELETE FROM ledger WHERE tenant = 'acme' AND id = 123456`);
    await svc.query(`INSERT INTO ledger VALUES ('acme', ${ROWS + 1}, 'acct-x', 1.00, now(), '{}', '{}')`);
    await svc.query(`UPDATE ledger SET account = 'other tenant' WHERE tenant = 'globex' AND id = 5`); // another tenant's rows never count
    const diff = await compare();
    console.log(`data parity, ${ROWS} rows: equal tables ${same.ms} ms, three differences ${diff.ms} ms`);
    expect(diff.equal).toBe(false);
    expect(diff.buckets.differing).toBe(3);
    expect(diff.differences).toEqual([
      { key: { id: '123456' }, kind: 'missing', columns: [] },
      { key: { id: '777777' }, kind: 'changed', columns: [{ column: 'amount', source: '777.49', service: '777.50' }] },
      { key: { id: String(ROWS + 1) }, kind: 'extra', columns: [] },
    ]);
    expect(formatDataParity(diff)).toMatch(/changed id="777777": amount 777.49 -> 777.50/);
  }, 300_000);

  it('reads a service table that is still empty a slice at a time: the first rows it lacks, not all 1,000,000 in memory', async () => {
    await svc.query('CREATE TABLE IF NOT EXISTS ledger_empty (LIKE ledger INCLUDING ALL)');
    const rss = process.memoryUsage().rss;
    const r = await compareTableData({ sourceUrl: source.url, serviceUrl: service.url, tenant: 'acme', table: 'ledger', serviceTable: 'ledger_empty' });
    console.log(`data parity against an empty copy of ${ROWS} rows: ${r.ms} ms, RSS +${Math.round((process.memoryUsage().rss - rss) / 2 ** 20)} MiB`);
    expect({ equal: r.equal, rows: r.rows, differing: r.buckets.differing, truncated: r.truncated, shown: r.differences.length }).toEqual({ equal: false, rows: { source: ROWS, service: 0 }, differing: 1024, truncated: true, shown: 50 });
    expect(r.differences.every((d) => d.kind === 'missing')).toBe(true);
    expect(process.memoryUsage().rss - rss).toBeLessThan(400 * 2 ** 20);
  }, 300_000);

  it('finds equal rows equal when the two servers print them differently by default, whatever the column order', async () => {
    const [a, b] = await Promise.all([scratchDatabase('dpa'), scratchDatabase('dpb')]);
    try {
      const ca = new Client({ connectionString: a.url });
      const cb = new Client({ connectionString: b.url });
      await Promise.all([ca.connect(), cb.connect()]);
      const rows = `SELECT g AS id, timestamptz '2026-03-29 00:59:59.5+00' + g * interval '1 minute' AS at, g / 3.0::float8 AS ratio, decode(md5(g::text), 'hex') AS raw, interval '1 day 2 hours' * g AS span, NULLIF('', 'x') AS empty FROM generate_series(1, 500) g`;
      // The service's database prints in another zone, date style, interval style and float precision, and its table lists the columns in another order.
      await cb.query(`ALTER DATABASE "${b.name}" SET timezone = 'Asia/Kolkata'; ALTER DATABASE "${b.name}" SET datestyle = 'SQL, DMY'; ALTER DATABASE "${b.name}" SET intervalstyle = 'iso_8601'; ALTER DATABASE "${b.name}" SET extra_float_digits = 0; ALTER DATABASE "${b.name}" SET bytea_output = 'escape'`);
      await Promise.all([
        ca.query(`CREATE TABLE t (id int PRIMARY KEY, at timestamptz, ratio float8, raw bytea, span interval, empty text); INSERT INTO t ${rows}`),
        cb.query(`CREATE TABLE t (empty text, span interval, raw bytea, ratio float8, at timestamptz, id bigint, tenant text, PRIMARY KEY (tenant, id)); INSERT INTO t (id, at, ratio, raw, span, empty, tenant) SELECT x.*, 'acme' FROM (${rows}) x`),
      ]);
      const same = await compareTableData({ sourceUrl: a.url, serviceUrl: b.url, tenant: 'acme', table: 't' });
      expect({ equal: same.equal, rows: same.rows }).toEqual({ equal: true, rows: { source: 500, service: 500 } });
      await cb.query(`UPDATE t SET ratio = ratio + 1e-12 WHERE id = 300`); // a float's last digits count
      const diff = await compareTableData({ sourceUrl: a.url, serviceUrl: b.url, tenant: 'acme', table: 't' });
      expect(diff.differences).toEqual([{ key: { id: '300' }, kind: 'changed', columns: [{ column: 'ratio', source: '100', service: '100.000000000001' }] }]);
      await Promise.all([ca.end(), cb.end()]);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  }, 120_000);

  it("pairs the rows of a table without a primary key by the copy's key, or by the columns named", async () => {
    const [a, b] = await Promise.all([scratchDatabase('dpka'), scratchDatabase('dpkb')]);
    try {
      const ca = new Client({ connectionString: a.url });
      const cb = new Client({ connectionString: b.url });
      await Promise.all([ca.connect(), cb.connect()]);
      const rows = `SELECT g % 10 AS room_id, g AS user_id, CASE WHEN g % 3 = 0 THEN 'owner' ELSE 'member' END AS role FROM generate_series(1, 200) g`;
      await Promise.all([
        ca.query(`CREATE TABLE links (room_id int NOT NULL, user_id int NOT NULL, role text, UNIQUE (room_id, user_id)); INSERT INTO links ${rows}`),
        cb.query(`CREATE TABLE links (tenant text NOT NULL, room_id int NOT NULL, user_id int NOT NULL, role text, PRIMARY KEY (tenant, room_id, user_id)); INSERT INTO links SELECT 'acme', x.* FROM (${rows}) x;
          CREATE TABLE loose (tenant text NOT NULL, room_id int NOT NULL, user_id int NOT NULL, role text); INSERT INTO loose SELECT 'acme', x.* FROM (${rows}) x`),
      ]);
      await cb.query(`UPDATE links SET role = 'admin' WHERE room_id = 7 AND user_id = 17; UPDATE loose SET role = 'admin' WHERE room_id = 7 AND user_id = 17`);
      const base = { sourceUrl: a.url, serviceUrl: b.url, tenant: 'acme', table: 'links' };
      const byCopy = await compareTableData(base);
      expect(byCopy.differences).toEqual([{ key: { room_id: '7', user_id: '17' }, kind: 'changed', columns: [{ column: 'role', source: '"member"', service: '"admin"' }] }]);
      await expect(compareTableData({ ...base, serviceTable: 'loose' })).rejects.toMatchObject({
        code: 'STR_ERR_PARITY_DATA_SOURCE',
        message: 'links has no primary key in the monolith database, nor its copy loose in the service\'s: name the columns that pair the rows (--key col,col)',
      });
      const named = await compareTableData({ ...base, serviceTable: 'loose', key: ['room_id', 'user_id'] });
      expect(named.differences).toEqual(byCopy.differences);
      await expect(compareTableData({ ...base, key: ['room', 'user_id'] })).rejects.toMatchObject({ code: 'STR_ERR_PARITY_DATA_SOURCE', message: expect.stringContaining('column(s) links does not have in the monolith database: room') });
      await Promise.all([ca.end(), cb.end()]);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  }, 120_000);

  it('runs from the CLI, exits 0 on equal tables and 1 on a difference, and refuses an unknown table clearly', async () => {
    const cli = (...args: string[]) => run(process.execPath, [path.join(REPO, 'cli/bin/strangler.cjs'), 'parity', 'data', '--source-url', source.url, '--service-url', service.url, ...args], { cwd: REPO }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    // Tables of its own, so that what the other tests changed does not matter.
    const src = new Client({ connectionString: source.url });
    await src.connect();
    const small = generated.replace(`generate_series(1, ${ROWS})`, 'generate_series(1, 5000)');
    const columns = 'id bigint, account text NOT NULL, amount numeric(18,2), booked_at timestamptz(6), tags text[], meta jsonb';
    await Promise.all([
      src.query(`CREATE TABLE cli_ledger (${columns}, PRIMARY KEY (id)); INSERT INTO cli_ledger ${small}`).finally(() => src.end()),
      svc.query(`CREATE TABLE cli_ledger (tenant text NOT NULL, ${columns}, PRIMARY KEY (tenant, id)); INSERT INTO cli_ledger SELECT 'acme', x.* FROM (${small}) x`),
    ]);
    const same = await cli('--tenant', 'acme', '--table', 'cli_ledger');
    expect({ code: same.code, stderr: same.stderr }).toEqual({ code: 0, stderr: '' });
    expect(same.stdout).toMatch(/^EQUAL {2}acme: cli_ledger \(5000 rows\) vs service cli_ledger \(5000 rows\) {2}0\/\d+ buckets differ/);
    await svc.query(`UPDATE cli_ledger SET account = 'moved' WHERE id = 4321`);
    const r = await cli('--tenant', 'acme', '--table', 'cli_ledger');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^DIFFERENT {2}acme: cli_ledger \(5000 rows\) vs service cli_ledger \(5000 rows\) {2}1\/\d+ buckets differ/);
    expect(r.stdout).toContain(`changed id="4321": account "acct-4321" -> "moved"`);
    const missing = await cli('--tenant', 'acme', '--table', 'nope');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no table nope in the monolith database \[STR_ERR_PARITY_DATA_SOURCE\]/);
  }, 300_000);
});
