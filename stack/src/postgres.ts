import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { redactUrl, waitFor } from '@strangler/common';
import type { StackConfig } from './config';
import { StackError } from './errors';
import type { StackLayout } from './layout';
import { ManagedProcess, tailFile } from './process';

export interface PostgresEndpoint {
  /** A superuser URL for the `postgres` database; tenant databases swap the path. */
  readonly adminUrl: string;
  readonly host: string;
  readonly port: number;
  readonly own: boolean;
  readonly version: string;
}

/** Finds initdb and postgres: the configured folder, then pg_config --bindir, then the newest /usr/lib/postgresql/N/bin. */
export function findPostgresBin(binDir?: string): string {
  const candidates: string[] = [];
  if (binDir) candidates.push(binDir);
  else {
    try {
      candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
    } catch {
      /* pg_config is optional */
    }
    const root = '/usr/lib/postgresql';
    if (fs.existsSync(root)) {
      for (const v of fs.readdirSync(root).sort((a, b) => Number(b) - Number(a))) candidates.push(path.join(root, v, 'bin'));
    }
  }
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'postgres')));
  if (!found) {
    throw new StackError(
      'STR_ERR_STACK_PG_BIN_MISSING',
      `PostgreSQL server binaries (initdb, postgres) not found in ${candidates.join(', ') || 'pg_config --bindir or /usr/lib/postgresql/*/bin'}. ` +
        'Install them (apt-get install postgresql-15), set STRANGLER_PG_BIN to their folder, or set STRANGLER_PG_URL to an existing server with wal_level=logical.',
      { context: { candidates } },
    );
  }
  return found;
}

interface OsUser {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

/**
 * PostgreSQL refuses to run as root. As root we run it as a dedicated system
 * user, created on first use; as anyone else we run it as ourselves.
 */
export function postgresOsUser(name: string): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, name], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    const created = spawnSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
      { encoding: 'utf8' },
    );
    if (created.status !== 0) {
      throw new StackError(
        'STR_ERR_STACK_OS_USER',
        `PostgreSQL cannot run as root and the system user ${name} could not be created: ${created.stderr.trim() || created.error?.message}. ` +
          'Create it (useradd --system --user-group strangler-pg), name another with STRANGLER_PG_OS_USER, or run as a non-root user.',
        { context: { user: name } },
      );
    }
  }
  return { name, uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

function assertAccessible(dir: string, user: OsUser): void {
  const probe = spawnSync('test', ['-w', dir, '-a', '-x', dir], { uid: user.uid, gid: user.gid });
  if (probe.status !== 0) {
    throw new StackError(
      'STR_ERR_STACK_STATE_DIR_ACCESS',
      `the PostgreSQL user ${user.name} cannot reach ${dir}: every folder above it must be searchable (chmod o+x), ` +
        'or set STRANGLER_STATE_DIR to a folder under /tmp or /var/lib.',
      { context: { dir, user: user.name } },
    );
  }
}

async function probeServer(url: string): Promise<{ walLevel: string; version: string; maxSlots: number }> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    const wal = await client.query<{ wal_level: string }>('SHOW wal_level');
    const version = await client.query<{ server_version: string }>('SHOW server_version');
    const slots = await client.query<{ max_replication_slots: string }>('SHOW max_replication_slots');
    return {
      walLevel: wal.rows[0]?.wal_level ?? 'unknown',
      version: version.rows[0]?.server_version ?? 'unknown',
      maxSlots: Number(slots.rows[0]?.max_replication_slots ?? 0),
    };
  } finally {
    await client.end();
  }
}

/**
 * Checks a server the stack did not create: it must already have logical
 * decoding on. We never reconfigure or restart it; we say what to change.
 */
export async function useExternalPostgres(url: string, tenants: number): Promise<PostgresEndpoint> {
  let server: Awaited<ReturnType<typeof probeServer>>;
  try {
    server = await probeServer(url);
  } catch (err) {
    throw new StackError('STR_ERR_STACK_PG_UNREACHABLE', `cannot connect to the PostgreSQL server at ${redactUrl(url)}: ${(err as Error).message}`, {
      cause: err,
      retriable: true,
      context: { url: redactUrl(url) },
    });
  }
  const parsed = new URL(url);
  if (server.walLevel !== 'logical') {
    throw new StackError(
      'STR_ERR_STACK_PG_NOT_LOGICAL',
      `the PostgreSQL server at ${parsed.host} runs with wal_level=${server.walLevel}, and Debezium needs wal_level=logical. ` +
        "Set it on that server (ALTER SYSTEM SET wal_level = 'logical'; or wal_level = logical in postgresql.conf) and restart it, " +
        'or unset STRANGLER_PG_URL to let the stack run its own instance. Strangler never reconfigures a server it did not create.',
      { context: { url: redactUrl(url), walLevel: server.walLevel } },
    );
  }
  if (server.maxSlots < tenants) {
    throw new StackError(
      'STR_ERR_STACK_PG_NOT_LOGICAL',
      `the PostgreSQL server at ${parsed.host} allows ${server.maxSlots} replication slots and the stack needs one per tenant (${tenants}): raise max_replication_slots and restart it.`,
      { context: { url: redactUrl(url), maxReplicationSlots: server.maxSlots } },
    );
  }
  return { adminUrl: url, host: parsed.hostname, port: Number(parsed.port || 5432), own: false, version: server.version };
}

/** Runs the stack's own PostgreSQL: own data folder and port, logical decoding on, loopback only, trust auth. */
export async function startOwnPostgres(
  config: StackConfig,
  layout: StackLayout,
): Promise<{ endpoint: PostgresEndpoint; process: ManagedProcess }> {
  const bin = findPostgresBin(config.postgres.binDir);
  const user = postgresOsUser(config.postgres.osUser);
  const owner = user ? { uid: user.uid, gid: user.gid } : {};
  fs.mkdirSync(layout.postgresDir, { recursive: true });
  if (user) {
    fs.chownSync(layout.postgresDir, user.uid, user.gid);
    assertAccessible(layout.postgresDir, user);
  }
  const logFile = layout.log('postgres');
  if (!fs.existsSync(path.join(layout.postgresData, 'PG_VERSION'))) {
    fs.rmSync(layout.postgresData, { recursive: true, force: true });
    const init = spawnSync(
      path.join(bin, 'initdb'),
      ['-D', layout.postgresData, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-instructions'],
      { encoding: 'utf8', ...owner },
    );
    fs.appendFileSync(logFile, `${init.stdout ?? ''}${init.stderr ?? ''}`);
    if (init.status !== 0) {
      throw new StackError('STR_ERR_STACK_PROCESS_EXITED', `initdb failed (exit ${init.status}). Last lines of ${logFile}:\n${tailFile(logFile, 20)}`, {
        context: { logFile },
      });
    }
  }
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    port: config.ports.postgres,
    // No Unix socket: its path length limit bites in deep CI folders, and we only speak TCP.
    unix_socket_directories: '',
    wal_level: 'logical',
    max_wal_senders: 32,
    max_replication_slots: 32,
    max_connections: 300,
    shared_buffers: '256MB',
    wal_sender_timeout: '30s',
    logging_collector: 'off',
  };
  const args = ['-D', layout.postgresData, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const child = await ManagedProcess.start('postgres', { command: path.join(bin, 'postgres'), args, logFile, ...owner });
  const adminUrl = `postgresql://postgres@127.0.0.1:${config.ports.postgres}/postgres`;
  const server = await waitFor('PostgreSQL to accept connections', () => probeServer(adminUrl), {
    timeoutMs: 30_000,
    intervalMs: 100,
    abort: () => child.deathError(),
  }).catch(async (err: unknown) => {
    await child.stop('SIGKILL', 1000);
    throw err instanceof StackError
      ? err
      : new StackError('STR_ERR_STACK_NOT_READY', `PostgreSQL did not come up: ${(err as Error).message}\n${tailFile(logFile, 20)}`, { cause: err });
  });
  return {
    endpoint: { adminUrl, host: '127.0.0.1', port: config.ports.postgres, own: true, version: server.version },
    process: child,
  };
}
