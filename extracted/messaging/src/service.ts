import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import knexFactory, { type Knex } from 'knex';
import { BACKSYNC_ORIGIN_PREFIX, kafkaClients, originSessions, Projector, PROJECTION_ORIGIN_PREFIX, PROJECTION_ORIGINS, type ChangeEvent, type PartitionLag } from '@strangler/cdc';
import { migrate } from '@strangler/migrations';
import { createMessagingApp } from './app';
import { messagingProjection } from './projection';
import { projectorOwnership, recordConflicts } from './ownership';

export interface MessagingOptions {
  /** The service's own database (migration set "extracted"; the mirror creates its tables). */
  readonly databaseUrl: string;
  readonly brokers: readonly string[];
  /** A tenant's monolith database to read the mirrored tables' types from (every tenant shares the schema). */
  readonly schemaSourceUrl: string;
  readonly port: number;
  readonly host?: string;
  /** Only these tenants' topics; default every tenant's (a topic pattern). */
  readonly tenants?: readonly string[];
  readonly groupId?: string;
  readonly onError?: (err: unknown) => void;
  /** What the projection cannot do and goes on without (a source column Debezium never sends). */
  readonly onWarning?: (warning: Error) => void;
  /** Topics of tenants (or tables) that appeared while running, now consumed. */
  readonly onTopicsAdded?: (topics: readonly string[]) => void;
  /** Monolith writes to the domain's tables while the service owned them (also kept in strangler.ownership_conflicts). */
  readonly onConflict?: (events: readonly ChangeEvent[]) => void;
  /** The proxy's dry-run header (services.messaging.dryRunHeader). @default 'x-strangler-dry-run' */
  readonly dryRunHeader?: string;
}

export interface RunningMessaging {
  readonly url: string;
  readonly db: Knex;
  lag(): PartitionLag[];
  stop(): Promise<void>;
}

/** Migrates, starts the projection from every tenant's topics, then serves the reads. */
export async function startMessaging(o: MessagingOptions): Promise<RunningMessaging> {
  await migrate('extracted', o.databaseUrl);
  const conflictCounts = new Map<string, { tenant: string; table: string; n: number }>();
  const onConflict = (events: readonly ChangeEvent[]) => {
    for (const e of events) {
      const table = `${e.source.schema}.${e.source.table}`;
      const c = conflictCounts.get(`${e.tenant}\u0000${table}`) ?? { tenant: e.tenant, table, n: 0 };
      c.n++;
      conflictCounts.set(`${e.tenant}\u0000${table}`, c);
    }
    o.onConflict?.(events);
  };
  const db = knexFactory({ client: 'pg', connection: o.databaseUrl, pool: { min: 0, max: 10 } });
  // The projector's own pool, each session under a replication origin: its copies of the monoliths' changes are
  // dropped by back-sync's connector before Kafka (only the service's own writes go back), where Connect has DropOrigin.
  const projectorDb = knexFactory({
    client: 'pg',
    connection: o.databaseUrl,
    pool: { min: 0, max: PROJECTION_ORIGINS, afterCreate: originSessions(PROJECTION_ORIGIN_PREFIX, (reason) => o.onWarning?.(new Error(`the projector writes without a replication origin (its copies reach back-sync's topic, where back-sync passes over them): ${reason}`))) },
  });
  const projector = new Projector(await messagingProjection(o.schemaSourceUrl, o.tenants, o.onWarning), {
    kafka: kafkaClients(o.brokers, 'strangler-messaging'),
    db: projectorDb,
    ...(o.groupId ? { groupId: o.groupId } : {}),
    ...(o.onError ? { onError: o.onError } : {}),
    ...(o.onTopicsAdded ? { onTopicsAdded: o.onTopicsAdded } : {}),
    // Back-sync's writes into the monoliths come back on their streams: never applied again (no echo).
    skipOrigins: [BACKSYNC_ORIGIN_PREFIX],
    ownership: (trx, tenant) => projectorOwnership(trx, tenant),
    recordConflicts: (trx, events) => recordConflicts(trx, events),
    onConflict,
  });
  try {
    await projector.start();
  } catch (err) {
    await db.destroy();
    await projectorDb.destroy();
    throw err;
  }
  const server: Server = createMessagingApp(db, () => projector.status(), { dryRunHeader: o.dryRunHeader ?? 'x-strangler-dry-run' }, () => [...conflictCounts.values()]).listen(o.port, o.host ?? '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${a.port}`,
    db,
    lag: () => projector.status(),
    stop: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await projector.stop();
      await db.destroy();
      await projectorDb.destroy();
    },
  };
}
