import net from 'node:net';
import { checkSource, ConnectClient, cdcStatus, formatStatus, RESTART_LOOP, unhealthy, tenantConnectorConfig, connectorName, registerCdcCommands, registerTenantConnector, removeTenantConnector, waitUntilStreaming } from '@strangler/cdc';
import { Command } from 'commander';
import { migrate } from '@strangler/migrations';
import { Client } from 'pg';
import { randomName, scratchDatabase, testStack } from '../../e2e/support/env';
import { deleteTenantTopics } from '../../e2e/support/streaming';

describe('connector registration over the Kafka Connect REST API', () => {
  const connect = new ConnectClient(testStack().connectUrl);

  it('is idempotent, reports the slot and its WAL, and cleans up', async () => {
    const tenant = randomName('reg');
    const db = await scratchDatabase(tenant);
    try {
      await migrate('monolith', db.url);
      await migrate('monolith-cdc', db.url);
      const source = { tenant, host: '127.0.0.1', port: Number(new URL(db.url).port), database: db.name, user: 'postgres' };
      expect((await registerTenantConnector(connect, source)).action).toBe('created');
      await waitUntilStreaming(connect, tenant, db.url);
      expect((await registerTenantConnector(connect, source)).action).toBe('unchanged');
      expect((await registerTenantConnector(connect, { ...source, tables: ['public.messages'] })).action).toBe('updated');
      await waitUntilStreaming(connect, tenant, db.url);

      // An updated connector restarts its task: wait until the slot is taken again.
      let report = (await cdcStatus(connect)).find((r) => r.name === connectorName(tenant));
      for (let i = 0; i < 150 && !(report?.slot?.active && report.tasks[0]?.state === 'RUNNING'); i++) {
        await new Promise((r) => setTimeout(r, 200));
        report = (await cdcStatus(connect)).find((r) => r.name === connectorName(tenant));
      }
      expect(report).toMatchObject({ tenant, connectorState: 'RUNNING', tasks: [{ id: 0, state: 'RUNNING' }] });
      expect(report!.slot).toMatchObject({ name: `strangler_${tenant}`, active: true });
      expect(report!.slot!.retainedWalBytes).toEqual(expect.any(Number));

      const pg = new Client({ connectionString: db.url });
      await pg.connect();
      const identity = await pg.query<{ relreplident: string }>(`SELECT relreplident FROM pg_class WHERE relname = 'messages'`);
      expect(identity.rows[0]!.relreplident).toBe('f');
      const pub = await pg.query<{ t: string }>(`SELECT schemaname || '.' || tablename AS t FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`, [
        `strangler_${tenant}`,
      ]);
      expect(pub.rows.map((r) => r.t)).toEqual(['public.messages', 'strangler.cdc_heartbeat', 'strangler.debezium_signal']);
      await pg.end();

      await removeTenantConnector(connect, tenant, db.url);
      expect(await connect.getConfig(connectorName(tenant))).toBeUndefined();
      const admin = new Client({ connectionString: db.url });
      await admin.connect();
      const slots = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`strangler_${tenant}`]);
      await admin.end();
      expect(slots.rowCount).toBe(0);

      // Registered again under the same name, it starts afresh: no offset left behind that the new slot never had.
      expect((await registerTenantConnector(connect, source)).action).toBe('created');
      await waitUntilStreaming(connect, tenant, db.url);
    } finally {
      await removeTenantConnector(connect, tenant, db.url).catch(() => undefined);
      await db.drop();
    }
  });

  it('registers and reports through `strangler cdc register | status`', async () => {
    const tenant = randomName('cli');
    const db = await scratchDatabase(tenant);
    const printed: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void printed.push(a.join(' ')));
    // In process: the exit code `status` sets (1 when any connector on this Connect is not running, another
    // test's or a stray one) is read and put back, never left for the test runner to exit with.
    let exitCode: typeof process.exitCode;
    const run = async (...args: string[]) => {
      const program = new Command('strangler').exitOverride();
      registerCdcCommands(program);
      const before = process.exitCode;
      try {
        await program.parseAsync(['cdc', ...args, '--connect-url', testStack().connectUrl], { from: 'user' });
      } finally {
        exitCode = process.exitCode;
        process.exitCode = before;
      }
    };
    try {
      await migrate('monolith', db.url);
      await migrate('monolith-cdc', db.url);
      await run('register', '--tenant', tenant, '--database-url', db.url, '--wait');
      // The initial snapshot of these small tables is over quickly; a busy host may show it being read (a line per table).
      expect(printed.filter((l) => !/: initial snapshot reading public\.\w+$/.test(l))).toEqual([`${connectorName(tenant)}: created`, `${connectorName(tenant)}: streaming`]);
      printed.length = 0;
      await run('status', '--json', '--kafka', testStack().kafka);
      const status = JSON.parse(printed.join('\n')) as { connectors: { name: string; connectorState: string; slot: { active: boolean } | null }[]; projections: unknown[] };
      expect(status.connectors.find((c) => c.name === connectorName(tenant))).toMatchObject({ connectorState: 'RUNNING', slot: { active: true } });
      const allRunning = status.connectors.every((c: { connectorState: string; tasks?: Array<{ state: string }> }) => c.connectorState === 'RUNNING' && (c.tasks ?? []).every((t) => t.state === 'RUNNING'));
      expect(exitCode === 1).toBe(!allRunning);
      expect(Array.isArray(status.projections)).toBe(true);
      // A bad URL is a usage error that says what is expected, before anything is sent.
      jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
      await expect(run('register', '--tenant', tenant, '--database-url', 'nope')).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('expected postgres://user@host:port/db') });

      // Offboarding: refused without --yes; then the connector, its slot and its publication are gone.
      const slotAndPublication = async () => {
        const c = new Client({ connectionString: db.url });
        await c.connect();
        try {
          const slot = await c.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`strangler_${tenant}`]);
          const publication = await c.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [`strangler_${tenant}`]);
          return { slot: slot.rowCount, publication: publication.rowCount };
        } finally {
          await c.end();
        }
      };
      await expect(run('remove', '--tenant', tenant, '--database-url', db.url)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining(`drops its replication slot (strangler_${tenant}): changes made meanwhile are never streamed. Pass --yes`) });
      expect(await slotAndPublication()).toEqual({ slot: 1, publication: 1 });
      printed.length = 0;
      await run('remove', '--tenant', tenant, '--database-url', db.url, '--yes');
      expect(printed).toEqual([`${connectorName(tenant)}: removed (connector, offsets, slot strangler_${tenant} and publication); topics ${tenant}.* kept`]);
      expect(await connect.getConfig(connectorName(tenant))).toBeUndefined();
      expect(await slotAndPublication()).toEqual({ slot: 0, publication: 0 });
    } finally {
      jest.restoreAllMocks();
      log.mockRestore();
      await removeTenantConnector(connect, tenant, db.url).catch(() => undefined);
      await db.drop();
    }
  });

  it("refuses a database capture would fail on, naming each fix; nothing is registered; --prepare adds the toolkit's tables", async () => {
    const tenant = randomName('bare');
    const db = await scratchDatabase(tenant);
    const role = `cap_${tenant}`;
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    try {
      // A database a tool made, not this project's migrations: a table without a key, none of the toolkit's tables.
      await admin.query('CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text); CREATE TABLE public.audit_log (at timestamptz, what text)');
      const source = { tenant, host: '127.0.0.1', port: Number(new URL(db.url).port), database: db.name, user: 'postgres', tables: ['public.accounts', 'public.audit_log', 'public.ghosts'] };
      const refused = await registerTenantConnector(connect, source).catch((err: Error) => err);
      expect(refused).toMatchObject({ code: 'STR_ERR_CDC_SOURCE_NOT_READY' });
      const message = (refused as Error).message;
      expect(message).toContain(`the toolkit's own tables are not in ${db.name}: strangler.cdc_heartbeat, strangler.debezium_signal`);
      expect(message).toContain(`npm run migrate -- latest monolith-cdc --database-url ${db.url}`);
      // Not an obstacle: the connector sets REPLICA IDENTITY FULL itself (init says so).
      expect(message).not.toContain('REPLICA IDENTITY');
      expect(message).toContain('table public.ghosts is not in');
      expect(await connect.getConfig(connectorName(tenant))).toBeUndefined();
      const slots = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`strangler_${tenant}`]);
      expect(slots.rowCount).toBe(0);

      // A role that is neither superuser nor owner: each missing right with its GRANT.
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      const limited = new Client({ connectionString: db.url.replace('postgres@', `${role}@`) });
      await limited.connect();
      try {
        const problems = await checkSource(limited, tenant, ['public.accounts'], 'hint');
        expect(problems.filter((p) => !p.warning).map((p) => p.check).sort()).toEqual(['publication_privilege', 'publication_privilege', 'replication_role', 'table_privilege', 'toolkit_tables']);
        expect(problems.find((p) => p.check === 'replication_role')!.fix).toBe(`ALTER ROLE "${role}" WITH REPLICATION; (on RDS: GRANT rds_replication TO "${role}";)`);
        expect(problems.find((p) => p.check === 'table_privilege')!.fix).toBe(`GRANT SELECT ON "public"."accounts" TO "${role}";`);
      } finally {
        await limited.end();
      }

      // Prepared by the CLI: it registers and streams; the connector made the keyless table's replica identity FULL.
      const printed: string[] = [];
      jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void printed.push(a.join(' ')));
      const program = new Command('strangler').exitOverride();
      registerCdcCommands(program);
      await program.parseAsync(['cdc', 'register', '--tenant', tenant, '--database-url', db.url, '--table', 'public.accounts', '--table', 'public.audit_log', '--prepare', '--wait', '--connect-url', testStack().connectUrl], { from: 'user' });
      expect(printed).toEqual([`${db.url}: the toolkit's tables added (001_signal_and_heartbeat, 002_domain_fence, 003_backsync_state, 004_backsync_probe_time)`, `${connectorName(tenant)}: created`, `${connectorName(tenant)}: streaming`]);
      expect((await admin.query("SELECT relreplident FROM pg_class WHERE relname = 'audit_log'")).rows[0].relreplident).toBe('f');
    } finally {
      jest.restoreAllMocks();
      await removeTenantConnector(connect, tenant, db.url).catch(() => undefined);
      await admin.end();
      await db.drop();
      const server = new Client({ connectionString: testStack().pgAdminUrl });
      await server.connect();
      await server.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await server.end();
    }
  });

  it('follows a long initial snapshot table by table instead of giving up while it reads', async () => {
    const tenant = randomName('snap');
    const db = await scratchDatabase(tenant);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      await migrate('monolith-cdc', db.url);
      await c.query("CREATE TABLE ledger (id bigint PRIMARY KEY, memo text NOT NULL); INSERT INTO ledger SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 400000) g");
      const source = { tenant, host: '127.0.0.1', port: Number(new URL(db.url).port), database: db.name, user: 'postgres', tables: ['public.ledger'] };
      await registerTenantConnector(connect, source);
      const seen: string[] = [];
      const t0 = Date.now();
      // A bound far shorter than the snapshot: the wait goes on while the snapshot reads.
      await waitUntilStreaming(connect, tenant, db.url, 1500, { onSnapshot: (t) => seen.push(t) });
      expect(seen).toEqual(['public.ledger']);
      expect(Date.now() - t0).toBeGreaterThan(1500);
    } finally {
      await c.end();
      await removeTenantConnector(connect, tenant, db.url).catch(() => undefined);
      await deleteTenantTopics([tenant]).catch(() => undefined);
      await db.drop();
    }
  }, 240_000);

  it("says when the initial snapshot keeps starting over (a connector registered behind the check's back, on a database without the heartbeat table)", async () => {
    const tenant = randomName('loop');
    const db = await scratchDatabase(tenant);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query("CREATE TABLE ledger (id bigint PRIMARY KEY, memo text NOT NULL); INSERT INTO ledger SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 150000) g");
      // Straight to Connect, as a hand-written config would: its heartbeat query fails each snapshot at its end.
      const source = { tenant, host: '127.0.0.1', port: Number(new URL(db.url).port), database: db.name, user: 'postgres', tables: ['public.ledger'] };
      await connect.putConfig(connectorName(tenant), tenantConnectorConfig(source));
      const error = await waitUntilStreaming(connect, tenant, db.url, 30_000).catch((err: Error) => err);
      expect(error).toMatchObject({ code: 'STR_ERR_CDC_CONNECTOR_NOT_STREAMING', message: expect.stringMatching(/initial snapshot started over twice \(it read public\.ledger a third time: public\.ledger -> public\.ledger -> public\.ledger\): its task fails at the snapshot's end/) });
      // Connect reads the task RUNNING throughout; `cdc status` says it keeps restarting, and why, from Connect's log.
      const reports = await cdcStatus(connect, { connectLog: process.env.STRANGLER_TEST_CONNECT_LOG! });
      const mine = reports.find((r) => r.tenant === tenant)!;
      expect(mine.tasks[0]).toMatchObject({ state: 'RUNNING', restarts: { count: expect.any(Number), cause: expect.stringContaining('relation "strangler.cdc_heartbeat" does not exist') } });
      expect(mine.tasks[0]!.restarts!.count).toBeGreaterThanOrEqual(RESTART_LOOP);
      expect(unhealthy([mine])).toBe(true);
      expect(formatStatus([mine])).toMatch(new RegExp(`${connectorName(tenant)} task 0: keeps restarting \\(\\d+ time\\(s\\) in the window, last at [^;]+; it reads RUNNING in between\\): org\\.postgresql\\.util\\.PSQLException: ERROR: relation "strangler\\.cdc_heartbeat" does not exist`));
    } finally {
      await c.end();
      await removeTenantConnector(connect, tenant, db.url).catch(() => undefined);
      await deleteTenantTopics([tenant]).catch(() => undefined);
      await db.drop();
    }
  }, 240_000);

  it('reports every field Connect rejects, without the password', async () => {
    const tenant = randomName('bad');
    const error = await registerTenantConnector(connect, {
      tenant,
      host: '127.0.0.1',
      port: 1,
      database: 'nowhere',
      user: 'postgres',
      password: 'hunter2',
    }).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'STR_ERR_CDC_CONNECTOR_INVALID', retriable: false });
    expect((error as Error).message).toMatch(new RegExp(`^Kafka Connect rejected the connector config of tenant ${tenant}:\\n  - `));
    expect((error as Error).message).not.toContain('hunter2');
    expect(await connect.getConfig(connectorName(tenant))).toBeUndefined();
  });

  it('says when Connect is not there, as a retriable error', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve)); // a port nothing listens on
    const error = await new ConnectClient(`http://127.0.0.1:${port}`, 2000).listConnectors().catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'STR_ERR_CDC_CONNECT_UNREACHABLE', retriable: true });
    // Why (fetch's own message is only "fetch failed") and what to do.
    expect((error as Error).message).toBe(
      `Kafka Connect at http://127.0.0.1:${port} did not answer GET /connectors (fetch failed: connect ECONNREFUSED 127.0.0.1:${port}): is the stack running (npm start)? For another Connect pass --connect-url or set STRANGLER_CONNECT_URL`,
    );
  });
});
