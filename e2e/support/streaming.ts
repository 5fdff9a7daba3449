import knexFactory, { type Knex } from 'knex';
import { Kafka, logLevel } from 'kafkajs';
import { ConnectClient, registerTenantConnector, removeTenantConnector, waitUntilStreaming } from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { scratchDatabase, testStack } from './env';

/** Deletes every topic of a tenant (`<tenant>.*`), the dead-letter ones included. */
export async function deleteTenantTopics(tenants: readonly string[], kafka = testStack().kafka): Promise<void> {
  const admin = new Kafka({ brokers: [kafka], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => tenants.some((tenant) => t.startsWith(`${tenant}.`)));
    if (topics.length) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

export interface StreamingTenant {
  readonly tenant: string;
  readonly connect: ConnectClient;
  readonly source: Awaited<ReturnType<typeof scratchDatabase>>;
  readonly target: Awaited<ReturnType<typeof scratchDatabase>>;
  /** The tenant's monolith database. */
  readonly src: Knex;
  /** A service database, migrated with the set "extracted". */
  readonly dst: Knex;
  /** Removes the connector (and its slot), both databases and every topic of the tenant. */
  drop(): Promise<void>;
}

/**
 * A tenant monolith database streamed by its own Debezium connector (until
 * it streams), beside a fresh service database: what projector tests run on.
 * The connector runs on the test stack's Connect unless `connectUrl` (and
 * `kafka`, its broker) name another.
 */
export async function streamingTenant(tenant: string, options: { targetPool?: number; connectUrl?: string; kafka?: string; dropOrigins?: readonly string[] } = {}): Promise<StreamingTenant> {
  const connect = new ConnectClient(options.connectUrl ?? testStack().connectUrl);
  const [source, target] = await Promise.all([scratchDatabase(tenant), scratchDatabase('svc')]);
  await migrate('monolith', source.url);
  await migrate('monolith-cdc', source.url);
  await migrate('extracted', target.url);
  const src = knexFactory({ client: 'pg', connection: source.url, pool: { min: 0, max: 4 } });
  const dst = knexFactory({ client: 'pg', connection: target.url, pool: { min: 0, max: options.targetPool ?? 8 } });
  const pg = new URL(source.url);
  await registerTenantConnector(connect, { tenant, host: pg.hostname, port: Number(pg.port), database: source.name, user: 'postgres', ...(options.dropOrigins ? { dropOrigins: options.dropOrigins } : {}) });
  await waitUntilStreaming(connect, tenant, source.url);
  return {
    tenant,
    connect,
    source,
    target,
    src,
    dst,
    async drop() {
      await removeTenantConnector(connect, tenant, source.url).catch(() => {});
      await src.destroy();
      await dst.destroy();
      await source.drop();
      await target.drop();
      await deleteTenantTopics([tenant], options.kafka);
    },
  };
}
