import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { scratchDir, testStack } from '../../e2e/support/env';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '..', '..');
const SAMPLE = path.join(REPO, 'migrations', 'src', 'monolith', '001_initial_schema.ts');

/**
 * `strangler contracts check` as CI runs it, on the stack's PostgreSQL: the
 * sample monolith's migrations plus one pending migration of each kind,
 * against the repository's recorded contracts and a consumer that reads
 * named columns (notifications: messages' id, room_id, body).
 */
describe('strangler contracts check', () => {
  const server = new URL(testStack().pgAdminUrl);
  server.pathname = '/postgres';

  /** A contracts folder with the recorded streams and the given consumers, and a migrations folder: the sample's, then `pending`. */
  function workspace(pending: string | null): { contracts: string; migrations: string } {
    const dir = scratchDir('contracts');
    const contracts = path.join(dir, 'contracts');
    fs.cpSync(path.join(REPO, 'contracts', 'streams'), path.join(contracts, 'streams'), { recursive: true });
    fs.mkdirSync(path.join(contracts, 'consumers'), { recursive: true });
    fs.writeFileSync(path.join(contracts, 'consumers', 'notifications.json'), JSON.stringify({ name: 'notifications', owner: 'notifications team', kind: 'projection', reads: { 'public.messages': ['id', 'room_id', 'body'], 'public.room_members': ['room_id', 'user_id'] } }));
    const migrations = path.join(dir, 'migrations');
    fs.mkdirSync(migrations);
    fs.copyFileSync(SAMPLE, path.join(migrations, '001_initial_schema.ts'));
    if (pending !== null) fs.writeFileSync(path.join(migrations, '002_pending.ts'), `import type { Knex } from 'knex';\nexport async function up(knex: Knex): Promise<void> {\n  await knex.raw(${JSON.stringify(pending)});\n}\nexport async function down(): Promise<void> {}\n`);
    return { contracts, migrations };
  }

  async function check(pending: string | null): Promise<{ code: number; out: string }> {
    const w = workspace(pending);
    const args = ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'contracts', 'check', '--dir', w.contracts, '--migrations-dir', w.migrations, '--server-url', server.toString()];
    try {
      const r = await run(process.execPath, args, { cwd: REPO });
      return { code: 0, out: r.stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: `${e.stdout}${e.stderr}` };
    }
  }

  it('passes the repository as it is: the recorded contracts are what its migrations make', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'contracts', 'check', '--server-url', server.toString()], { cwd: REPO });
    expect(r.stdout).toMatch(/^no change to any stream contract\n\nno breaking change for the 2 declared consumer\(s\)\n$/);
  });

  it('passes a compatible migration (a nullable column added), and says to record it', async () => {
    const r = await check('ALTER TABLE messages ADD COLUMN pinned_at timestamptz');
    expect(r.code).toBe(0);
    expect(r.out).toContain('compatible public.messages.pinned_at: column pinned_at (timestamp with time zone) is added, nullable');
    expect(r.out).toContain('record the compatible ones with `strangler contracts snapshot`');
  });

  it('fails a migration that drops a column a consumer reads, naming the consumer and the safe way; one no one reads passes', async () => {
    const r = await check('ALTER TABLE messages DROP COLUMN body');
    expect(r.code).toBe(1);
    expect(r.out).toContain('BREAKING public.messages.body: column body (text) is dropped\n  breaks: notifications\n  evolve safely: contract last: release notifications without body first, then drop it in a later migration');
    const unread = await check('ALTER TABLE messages DROP COLUMN currency');
    expect(unread.code).toBe(0);
    expect(unread.out).toContain('compatible public.messages.currency: column currency (character(3)) is dropped');
  });

  it('fails a rename and a narrower type for the consumer reading the column', async () => {
    const renamed = await check('ALTER TABLE messages RENAME COLUMN body TO text');
    expect(renamed.code).toBe(1);
    expect(renamed.out).toContain('BREAKING public.messages.body: column body seems renamed to text (text)\n  breaks: notifications');
    const narrower = await check('ALTER TABLE messages ALTER COLUMN room_id TYPE smallint');
    expect(narrower.code).toBe(1);
    expect(narrower.out).toContain('BREAKING public.messages.room_id: column room_id retyped from integer to smallint');
  });

  it('fails a key change for every consumer of the stream, and a NOT NULL column added without a default', async () => {
    const key = await check('ALTER TABLE room_members DROP CONSTRAINT room_members_pkey, ADD PRIMARY KEY (room_id, user_id, role)');
    expect(key.code).toBe(1);
    expect(key.out).toContain('BREAKING public.room_members: the key changed from (room_id, user_id) to (room_id, user_id, role)');
    expect(key.out).toContain('breaks: notifications\n  evolve safely: a new key is a new stream');
    const required = await check('ALTER TABLE messages ADD COLUMN priority integer NOT NULL');
    expect(required.code).toBe(1);
    expect(required.out).toContain('BREAKING public.messages.priority: column priority (integer) is added NOT NULL without a default');
  });

  it("counts a project file's mirrors as consumers (every column of their tables), with the contracts beside the file", async () => {
    const w = workspace('ALTER TABLE messages DROP COLUMN currency');
    const dir = path.dirname(w.contracts);
    const project = fs.readFileSync(path.join(REPO, 'stack', 'demo', 'strangler.yaml'), 'utf8').replace('    url: http://127.0.0.1:18201\n', '    url: http://127.0.0.1:18201\n    mirrors: [public.messages]\n');
    fs.writeFileSync(path.join(dir, 'strangler.yaml'), project.replace('# yaml-language-server: $schema=../../project/schema/strangler-project.schema.json\n', ''));
    const args = ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'contracts', 'check', '--project', path.join(dir, 'strangler.yaml'), '--migrations-dir', w.migrations, '--server-url', server.toString()];
    const r = await run(process.execPath, args, { cwd: REPO }).catch((e: unknown) => e as { code: number; stdout: string });
    expect((r as { code?: number }).code).toBe(1);
    expect((r as { stdout: string }).stdout).toContain('BREAKING public.messages.currency: column currency (character(3)) is dropped\n  breaks: demo-messaging-mirror');
  });

  it('snapshot records a changed shape as the next version, with what changed, and leaves an unchanged one alone', async () => {
    const w = workspace('ALTER TABLE messages ADD COLUMN pinned_at timestamptz');
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'contracts', 'snapshot', '--dir', w.contracts, '--migrations-dir', w.migrations, '--server-url', server.toString(), ...args], { cwd: REPO });
    const first = await cli();
    expect(first.stdout).toContain('public.messages: version 2 written to');
    expect(first.stdout).toContain('column pinned_at (timestamp with time zone) is added, nullable');
    expect(first.stdout).toContain('unchanged: public.room_members, public.rooms, public.users');
    const written = JSON.parse(fs.readFileSync(path.join(w.contracts, 'streams', 'public.messages.json'), 'utf8'));
    expect(written.version).toBe(2);
    expect(written.history.map((h: { version: number }) => h.version)).toEqual([1, 2]);
    expect(written.rowSchema.properties.pinned_at).toEqual({ anyOf: [{ type: 'string', format: 'date-time', 'x-pg-type': 'timestamp with time zone' }, { type: 'null' }] });
    expect(written.rowSchema.required).toContain('pinned_at');
    expect((await cli()).stdout).toContain('unchanged: public.messages, public.room_members, public.rooms, public.users');
  });

  it('refuses clearly: a migration that cannot run, a contracts folder without contracts', async () => {
    const broken = await check('ALTER TABLE nope ADD COLUMN x int');
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/the migrations failed on a scratch database: .*relation "nope" does not exist.*\[STR_ERR_CONTRACTS_MIGRATIONS\]/s);
    const empty = scratchDir('contracts-empty');
    const none = await run(process.execPath, ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'contracts', 'check', '--dir', empty, '--server-url', server.toString()], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect((none as { code: number }).code).toBe(1);
    expect((none as { stderr: string }).stderr).toContain('record them first with `strangler contracts snapshot` [STR_ERR_CONTRACTS_NONE]');
  });
});
