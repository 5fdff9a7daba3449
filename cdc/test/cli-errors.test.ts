import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { migrate } from '@strangler/migrations';
import { randomName, testStack } from '../../e2e/support/env';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '..', '..');

/** The real `strangler` binary; resolves with its exit code, output and how long it took. */
async function strangler(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const done = await run(process.execPath, [path.join(REPO, 'cli/bin/strangler.cjs'), ...args], { cwd: REPO, env: { ...process.env, ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  return { code: done.code, stdout: done.stdout, stderr: done.stderr, ms: Date.now() - started };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The cdc commands a user waits on, against what is not there: each says
 * soon, in one line with a stable code, what is missing and what to do, and
 * changes nothing (no stack trace, no half-done replay).
 */
describe('cdc commands when what they need is not there', () => {
  it('says that no Kafka broker answers, within seconds, for dlq and replay alike', async () => {
    const broker = `127.0.0.1:${await closedPort()}`;
    for (const args of [['dlq', 'list', '--kafka', broker], ['dlq', 'retry', 'x.dlq', '--kafka', broker], ['replay', 'messaging-mirror', '--from', 'earliest', '--kafka', broker]]) {
      const r = await strangler(args);
      expect({ args, code: r.code, stderr: r.stderr.trim() }).toEqual({
        args,
        code: 1,
        stderr: expect.stringMatching(new RegExp(`^strangler: no Kafka broker answered at ${broker} \\(.*ECONNREFUSED.*\\): is the stack running \\(npm start\\)\\? For another broker pass --kafka host:port or set STRANGLER_KAFKA \\[STR_ERR_CDC_KAFKA_UNREACHABLE\\]$`)),
      });
      expect(r.ms).toBeLessThan(15_000); // kafkajs alone retried for about 45 s before a stack trace
    }
  }, 120_000);

  it('names the dead-letter topics there are when asked for one that is not, and an offset that holds none', async () => {
    const kafka = testStack().kafka;
    const none = await strangler(['dlq', 'show', 'acme.public.nope.dlq', '--kafka', kafka]);
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toMatch(/^strangler: acme\.public\.nope\.dlq is not a dead-letter topic on this broker: there (are .*\.dlq|are none) \(strangler dlq list\) \[STR_ERR_CDC_DLQ_UNKNOWN\]$/);
    const notDlq = await strangler(['dlq', 'retry', 'acme.public.rooms', '--kafka', kafka]);
    expect(notDlq.code).toBe(1);
    expect(notDlq.stderr.trim()).toMatch(/^strangler: acme\.public\.rooms is not a dead-letter topic \(their names end in \.dlq\): .* \[STR_ERR_CDC_DLQ_UNKNOWN\]$/);

    const topic = `${randomName('clierr')}.public.rooms.dlq`;
    const client = new Kafka({ brokers: [kafka], logLevel: logLevel.NOTHING });
    const admin = client.admin();
    const producer = client.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    try {
      await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
      await producer.send({ topic, messages: [{ value: '{}', headers: { 'strangler.original.topic': 'x.public.rooms' } }] });
      const offset = await strangler(['dlq', 'retry', topic, '--offset', '5', '--kafka', kafka]);
      expect({ code: offset.code, stderr: offset.stderr.trim() }).toEqual({ code: 1, stderr: `strangler: ${topic} holds no dead letter at offset 5 (strangler dlq show ${topic} lists them) [STR_ERR_CDC_DLQ_UNKNOWN]` });
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await Promise.all([admin.disconnect(), producer.disconnect()]);
    }
  }, 120_000);

  it("refuses a replay whose source or target database is away, before it touches the group's offsets", async () => {
    const { pgAdminUrl, kafka } = testStack();
    const tenant = randomName('clierr');
    const group = randomName('clierr-group');
    const env = { STRANGLER_PG_URL: pgAdminUrl };
    const missing = await strangler(['replay', 'messaging-mirror', '--from', 'earliest', '--kafka', kafka, '--tenants', tenant, '--group', group], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(new RegExp(`^strangler: cannot read public\\.\\w+: the source database postgresql://.*/monolith_${tenant} does not accept connections \\(database "monolith_${tenant}" does not exist\\) \\[STR_ERR_CDC_SOURCE_UNAVAILABLE\\]$`));

    const admin = new Client({ connectionString: pgAdminUrl });
    await admin.connect();
    const sourceDb = `monolith_${tenant}`;
    await admin.query(`CREATE DATABASE "${sourceDb}"`);
    try {
      await migrate('monolith', pgAdminUrl.replace(/\/[^/]*$/, `/${sourceDb}`));
      const target = `postgresql://postgres@127.0.0.1:${await closedPort()}/extracted`;
      for (const rebuild of [[], ['--rebuild']]) {
        const away = await strangler(['replay', 'messaging-mirror', '--from', 'earliest', '--kafka', kafka, '--tenants', tenant, '--group', group, '--database-url', target, ...rebuild], env);
        expect({ code: away.code, stderr: away.stderr.trim() }).toEqual({
          code: 1,
          stderr: expect.stringMatching(/^strangler: projection messaging-mirror: its database does not accept connections \(connect ECONNREFUSED [^)]+\) \[STR_ERR_CDC_TARGET_UNAVAILABLE\]$/),
        });
      }
      const kafkaAdmin = new Kafka({ brokers: [kafka], logLevel: logLevel.NOTHING }).admin();
      await kafkaAdmin.connect();
      try {
        const groups = (await kafkaAdmin.listGroups()).groups.map((g) => g.groupId);
        expect(groups).not.toContain(group); // no offsets were reset for the live group
      } finally {
        await kafkaAdmin.disconnect();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${sourceDb}" WITH (FORCE)`);
      await admin.end();
    }
  }, 120_000);
});
