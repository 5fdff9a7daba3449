import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { waitFor } from '@strangler/common';
import { databaseUrl } from '@strangler/stack';

/** Endpoints of the stack the global setup found or started. */
export function testStack(): { pgAdminUrl: string; kafka: string; connectUrl: string } {
  const pgAdminUrl = process.env.STRANGLER_TEST_PG_URL;
  const kafka = process.env.STRANGLER_TEST_KAFKA;
  const connectUrl = process.env.STRANGLER_TEST_CONNECT_URL;
  if (!pgAdminUrl || !kafka || !connectUrl) throw new Error('integration tests run under the integration jest project, whose global setup provides the stack');
  return { pgAdminUrl, kafka, connectUrl };
}

/** A short random name, so tests never see each other's databases, topics or groups. */
export function randomName(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
}

/**
 * A fresh folder for one test's files, inside the run's scratch folder that
 * the global set-up makes and the global teardown removes (pass or fail;
 * jest may end its workers before their own exit handlers run). Outside a
 * jest run, under the OS's temp folder.
 */
export function scratchDir(prefix: string): string {
  return fs.mkdtempSync(path.join(process.env.STRANGLER_TEST_TMP ?? os.tmpdir(), `strangler-${prefix}-`));
}

/** Creates a fresh database on the test stack's server; `drop` removes it (forcibly) afterwards. */
export async function scratchDatabase(prefix = 't'): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const { pgAdminUrl } = testStack();
  const name = randomName(prefix);
  const admin = new Client({ connectionString: pgAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  return {
    name,
    url: databaseUrl(pgAdminUrl, name),
    drop: async () => {
      const c = new Client({ connectionString: pgAdminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/** waitFor for tests: polls until `fn` returns something other than undefined or false. */
export function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 3000, intervalMs = 25): Promise<T> {
  return waitFor(
    'a test condition',
    async () => {
      const v = await fn();
      return v === false ? undefined : v;
    },
    { timeoutMs, intervalMs },
  );
}
