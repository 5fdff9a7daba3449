import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { findPostgresBin, freePort, useExternalPostgres } from '@strangler/stack';
import { testStack } from '../../e2e/support/env';

/**
 * The stack never reconfigures a server it did not create: pointed at one
 * without logical decoding, it stops and says which setting to change. The
 * server here is a throwaway instance started with wal_level=replica.
 */
describe('an existing PostgreSQL server', () => {
  it('is accepted when it has logical decoding on', async () => {
    const endpoint = await useExternalPostgres(testStack().pgAdminUrl, 2);
    expect(endpoint).toMatchObject({ own: false, host: '127.0.0.1' });
  });

  it('is refused, with the setting to change, when wal_level is not logical', async () => {
    const bin = findPostgresBin();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-pg-'));
    const asUser = process.getuid?.() === 0 ? userIds('strangler-pg') : {};
    fs.chmodSync(root, 0o777);
    const data = path.join(root, 'data');
    const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-locale', '--no-instructions'], { ...asUser, encoding: 'utf8' });
    expect(init.stderr).not.toMatch(/FATAL|error/i);
    const port = await freePort();
    const server = spawnSync(
      path.join(bin, 'pg_ctl'),
      ['-D', data, '-l', path.join(root, 'log'), '-w', '-o', `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c wal_level=replica`, 'start'],
      { ...asUser, encoding: 'utf8' },
    );
    expect(server.status).toBe(0);
    try {
      const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
      const error = await useExternalPostgres(url, 2).catch((err: unknown) => err);
      expect(error).toMatchObject({ code: 'STR_ERR_STACK_PG_NOT_LOGICAL' });
      expect((error as Error).message).toBe(
        `the PostgreSQL server at 127.0.0.1:${port} runs with wal_level=replica, and Debezium needs wal_level=logical. ` +
          "Set it on that server (ALTER SYSTEM SET wal_level = 'logical'; or wal_level = logical in postgresql.conf) and restart it, " +
          'or unset STRANGLER_PG_URL to let the stack run its own instance. Strangler never reconfigures a server it did not create.',
      );
      // Nothing was changed on that server.
      const c = new Client({ connectionString: url });
      await c.connect();
      const auto = await c.query(`SELECT count(*)::int AS n FROM pg_file_settings WHERE name = 'wal_level'`);
      await c.end();
      expect(auto.rows[0].n).toBe(0);
    } finally {
      spawnSync(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], asUser);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('is refused with a retriable error when it cannot be reached', async () => {
    const port = await freePort();
    await expect(useExternalPostgres(`postgresql://postgres:secret@127.0.0.1:${port}/postgres`, 1)).rejects.toMatchObject({
      code: 'STR_ERR_STACK_PG_UNREACHABLE',
      retriable: true,
      message: expect.not.stringContaining('secret'),
    });
  });
});

function userIds(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}
