import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { ConnectClient, mirrorProjection, readTableSpec } from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { eventually as waitUntil, randomName, scratchDatabase, testStack } from '../../e2e/support/env';
import { deleteTenantTopics } from '../../e2e/support/streaming';
import { BACKSYNC_ORIGIN_PREFIX, backSyncConnectorName, backSyncTopic } from '../src';

const REPO = path.resolve(__dirname, '..', '..');
const eventually = <T>(fn: () => Promise<T | undefined | false>, timeoutMs = 90_000) => waitUntil(fn, timeoutMs, 250);

/**
 * The back-sync applier as an operator runs it (`strangler backsync run`),
 * killed with SIGKILL three times in the middle of a steady mix of service
 * transactions (a room and its message created together, messages edited,
 * messages deleted) and started again: the tenant's monolith tables end equal
 * to the service's rows of that tenant, row for row.
 */
describe('back-sync under SIGKILL', () => {
  const tenant = randomName('bsk');
  const service = randomName('bsks');
  let monolith: Awaited<ReturnType<typeof scratchDatabase>>;
  let serviceDb: Awaited<ReturnType<typeof scratchDatabase>>;
  let mono: Knex;
  let svc: Knex;
  let child: ChildProcess | null = null;
  const log: string[] = [];

  beforeAll(async () => {
    [monolith, serviceDb] = await Promise.all([scratchDatabase(tenant), scratchDatabase('bsks')]);
    await migrate('monolith', monolith.url);
    await migrate('monolith-cdc', monolith.url);
    await migrate('extracted', serviceDb.url);
    mono = knexFactory({ client: 'pg', connection: monolith.url, pool: { min: 0, max: 2 } });
    svc = knexFactory({ client: 'pg', connection: serviceDb.url, pool: { min: 0, max: 4 } });
    await mono.raw("INSERT INTO users (id, email, display_name) VALUES (1, 'ada@bank.example', 'Ada')");
    const tables = await Promise.all(['rooms', 'messages'].map((t) => readTableSpec(monolith.url, `public.${t}`, t)));
    await mirrorProjection('copies', tables).setup!(svc);
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await new ConnectClient(testStack().connectUrl).deleteConnector(backSyncConnectorName(service)).catch(() => {});
    await svc?.raw('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ? AND NOT active', [`strangler_backsync_${service}`]).catch(() => {});
    await mono?.destroy();
    await svc?.destroy();
    await monolith?.drop();
    await serviceDb?.drop();
    await deleteTenantTopics([backSyncTopic(service)]).catch(() => {});
    const c = new pg.Client({ connectionString: testStack().pgAdminUrl });
    await c.connect();
    await c.query('SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = $1', [`${BACKSYNC_ORIGIN_PREFIX}_${tenant}`]).catch(() => {});
    await c.end();
  });

  const start = () => {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'cli/src/main.ts'), 'backsync', 'run', '--service', service, '--service-db', serviceDb.url, '--table', 'rooms', '--table', 'messages', '--monolith', `${tenant}=${monolith.url}`, '--domain', 'messaging', '--kafka', testStack().kafka, '--connect', testStack().connectUrl, '--session-timeout', '2000'],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (c: Buffer) => log.push(c.toString()));
    child.stderr!.on('data', (c: Buffer) => log.push(c.toString()));
    return child;
  };
  const ready = async () => eventually(async () => log.join('').includes(`backsync ${service}: applying`), 60_000);

  const at = '2026-12-07T10:00:00.000001Z';
  const rows = async (db: Knex, table: string, where: string) => (await db.raw(`SELECT (to_jsonb(x) - 'tenant')::text AS r FROM ${table} x ${where} ORDER BY id`)).rows.map((r: { r: string }) => r.r) as string[];

  it('ends with the monolith equal to the service, row for row, after three kills mid-load', async () => {
    start();
    await ready();
    // The connector streams once its slot is active; the load starts then (back-sync carries what is committed from then on).
    await eventually(async () => (await svc.raw('SELECT active FROM pg_replication_slots WHERE slot_name = ?', [`strangler_backsync_${service}`])).rows[0]?.active === true);
    // The service owns the tenant from here on (a hand-over writes this row; back-sync reads it in the stream).
    await svc.raw("INSERT INTO strangler.domain_owners (tenant, domain, owner, epoch) VALUES (?, 'messaging', 'service', 1)", [tenant]);
    let stopLoad = false;
    let n = 0;
    const load = (async () => {
      while (!stopLoad) {
        n++;
        await svc.transaction(async (trx) => {
          await trx('rooms').insert({ tenant, id: n, name: `room ${n}`, kind: 'group', tags: ['t'], settings: '{}', created_by: 1, created_at: at, updated_at: at });
          await trx('messages').insert({ tenant, id: n, room_id: n, author_id: 1, body: `message ${n}`, format: 'plain', attachments: '[]', edit_count: 0, created_at: at, updated_at: at });
          if (n > 2 && n % 3 === 0) await trx('messages').where({ tenant, id: n - 1 }).update({ body: `edited ${n}`, edit_count: trx.raw('edit_count + 1') });
          if (n > 3 && n % 5 === 0) await trx('messages').where({ tenant, id: n - 3 }).delete();
        });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (let k = 0; k < 3; k++) {
      await new Promise((r) => setTimeout(r, 2500 + Math.random() * 1500));
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      await new Promise((r) => setTimeout(r, 500));
      start();
    }
    await new Promise((r) => setTimeout(r, 2000));
    stopLoad = true;
    await load;
    expect(n).toBeGreaterThan(100);
    for (const table of ['rooms', 'messages']) {
      const want = await rows(svc, table, `WHERE tenant = '${tenant}'`);
      await eventually(async () => JSON.stringify(await rows(mono, table, '')) === JSON.stringify(want)).catch(async () => {
        const have = await rows(mono, table, '');
        throw new Error(`${table}: the monolith holds ${have.length} rows, the service ${want.length}; first differing: ${JSON.stringify(want.find((r, i) => r !== have[i]))} vs ${JSON.stringify(have.find((r, i) => r !== want[i]))}\n${log.join('').slice(-2000)}`);
      });
    }
  }, 240_000);
});
