import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { migrate, rollbackAll } from '@strangler/migrations';
import { randomName, scratchDatabase, testStack } from '../../e2e/support/env';

describe('migrations', () => {
  it('migrates a monolith database once; a second run applies nothing; rollback empties it', async () => {
    const db = await scratchDatabase('mig');
    try {
      expect(await migrate('monolith', db.url)).toEqual({ set: 'monolith', applied: ['001_initial_schema'] });
      expect(await migrate('monolith-cdc', db.url)).toEqual({ set: 'monolith-cdc', applied: ['001_signal_and_heartbeat', '002_domain_fence', '003_backsync_state', '004_backsync_probe_time'] });
      expect(await migrate('monolith', db.url)).toEqual({ set: 'monolith', applied: [] });
      const c = new Client({ connectionString: db.url });
      await c.connect();
      const tables = await c.query<{ t: string }>(
        `SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema IN ('public','strangler') ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.t)).toEqual([
        'public.knex_migrations',
        'public.knex_migrations_lock',
        'public.messages',
        'public.room_members',
        'public.rooms',
        'public.users',
        'strangler.backsync_state',
        'strangler.cdc_heartbeat',
        'strangler.debezium_signal',
        'strangler.domain_fence',
        'strangler.knex_migrations',
        'strangler.knex_migrations_lock',
      ]);
      await rollbackAll('monolith', db.url);
      const after = await c.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'messages'`);
      expect(after.rowCount).toBe(0);
      await c.end();
    } finally {
      await db.drop();
    }
  });

  it('migrate latest --create creates a missing database first (as docker-compose.yml does), and says what it did', async () => {
    const name = randomName('create');
    const url = `${testStack().pgAdminUrl.replace(/\/[^/]*$/, '')}/${name}`;
    const cli = path.join(__dirname, '..', 'src', 'cli.ts');
    const run = () => execFileSync(process.execPath, ['--import', 'tsx', cli, 'latest', 'control', '--create', '--database-url', url], { encoding: 'utf8' });
    try {
      expect(run()).toMatch(new RegExp(`^${name}: created\ncontrol: applied 001_route_modes`));
      expect(run()).toBe('control: up to date\n');
      // Bad input: one line that says what to pass, exit 2.
      let failure: { status: number; stderr: string } | null = null;
      try {
        execFileSync(process.execPath, ['--import', 'tsx', cli, 'latest', 'control', '--create', '--database-url', 'not a url'], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        failure = err as { status: number; stderr: string };
      }
      expect(failure?.status).toBe(2);
      expect(failure?.stderr).toMatch(/^migrate: --database-url is not a URL: "not a url" \(postgresql:\/\/user@host:port\/database\)/);
    } finally {
      const admin = new Client({ connectionString: testStack().pgAdminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });

  it('refuses an unknown set by name', async () => {
    await expect(migrate('nope' as never, 'postgres://x')).rejects.toMatchObject({ code: 'STR_ERR_MIGRATION_UNKNOWN_SET' });
  });
});
