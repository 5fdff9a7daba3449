import { TENANT_NAME } from '@strangler/common';
import { CdcError } from './errors';
import type { ConnectorConfig } from './connect-client';

export const POSTGRES_CONNECTOR_CLASS = 'io.debezium.connector.postgresql.PostgresConnector';

/** The monolith tables every tenant connector captures, in the legacy schema. */
export const MONOLITH_TABLES = Object.freeze(['public.users', 'public.rooms', 'public.room_members', 'public.messages']);
/** The toolkit's own tables in each monolith database (migration set monolith-cdc). */
export const SIGNAL_TABLE = 'strangler.debezium_signal';
export const HEARTBEAT_TABLE = 'strangler.cdc_heartbeat';
/** How often the connector writes HEARTBEAT_TABLE: its change events say how far the capture has got even while the tables are idle. */
export const HEARTBEAT_INTERVAL_MS = 5000;

export interface TenantSource {
  /** Names the topics (`<tenant>.<schema>.<table>`), the slot and the publication. */
  readonly tenant: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  /** @default MONOLITH_TABLES */
  readonly tables?: readonly string[];
  /**
   * Replication origin prefixes whose changes are dropped before they reach
   * Kafka (the toolkit's DropOrigin transformation: back-sync's copies never
   * come back as events). registerTenantConnector sets it when the workers
   * have the transformation.
   */
  readonly dropOrigins?: readonly string[];
}

/** The toolkit's Connect transformation that drops the changes made under given replication origins (stack/connect-transforms). */
export const DROP_ORIGIN_TRANSFORM = 'dev.strangler.connect.DropOrigin';

export function connectorName(tenant: string): string {
  return `strangler-${tenant}`;
}

/** One slot and one publication per tenant database, named after the tenant. */
export function slotName(tenant: string): string {
  return `strangler_${tenant}`;
}

/**
 * How every connector of the toolkit writes values into its events: what
 * decode() (events/change-event.ts) reads back exactly. Decimals and
 * intervals as strings, times as ISO strings, bytes as bytes (the schema
 * then says "bytes" and the decoder returns a Buffer; base64 mode types it
 * "string", indistinguishable from text), hstore as JSON.
 */
export const EVENT_ENCODING: ConnectorConfig = Object.freeze({
  'decimal.handling.mode': 'string',
  'time.precision.mode': 'isostring',
  'interval.handling.mode': 'string',
  'binary.handling.mode': 'bytes',
  'hstore.handling.mode': 'json',
});

/** The topics a connector creates: one partition, kept for ever (replay reads them from the start). */
export const TOPIC_CREATION: ConnectorConfig = Object.freeze({
  'topic.creation.default.replication.factor': '1',
  'topic.creation.default.partitions': '1',
  'topic.creation.default.cleanup.policy': 'delete',
  'topic.creation.default.retention.ms': '-1',
});

/**
 * What every toolkit connector on a PostgreSQL database shares: the class,
 * one task, where the database is, pgoutput, and a slot and a publication of
 * the given name that holds the captured tables only.
 */
export function postgresConnection(db: { readonly host: string; readonly port: number; readonly user: string; readonly password?: string; readonly database: string }, slot: string, topicPrefix: string): ConnectorConfig {
  return {
    'connector.class': POSTGRES_CONNECTOR_CLASS,
    'tasks.max': '1',
    'database.hostname': db.host,
    'database.port': String(db.port),
    'database.user': db.user,
    'database.password': db.password ?? '',
    'database.dbname': db.database,
    'topic.prefix': topicPrefix,
    'plugin.name': 'pgoutput',
    'slot.name': slot,
    'publication.name': slot,
    // Only the captured tables, so the publication never grows behind our back.
    'publication.autocreate.mode': 'filtered',
  };
}

/**
 * The Debezium PostgreSQL connector config for one tenant database. Pure:
 * the same source always yields the same config, which is what makes
 * registration idempotent (a second run compares and changes nothing).
 */
export function tenantConnectorConfig(source: TenantSource): ConnectorConfig {
  if (!TENANT_NAME.test(source.tenant)) {
    throw new CdcError(
      'STR_ERR_CDC_TENANT_INVALID',
      `tenant ${JSON.stringify(source.tenant)} must start with a letter and hold only a-z, 0-9 and _, at most 31 characters (it names a topic prefix, a slot and a publication)`,
      { context: { tenant: source.tenant } },
    );
  }
  const tables = source.tables ?? MONOLITH_TABLES;
  const slot = slotName(source.tenant);
  return Object.freeze({
    ...postgresConnection(source, slot, source.tenant),
    'table.include.list': [...tables, SIGNAL_TABLE, HEARTBEAT_TABLE].join(','),
    // Full before-images for updates and deletes: projections and parity need the old row, not just its key.
    'replica.identity.autoset.values': tables.map((t) => `${t}:FULL`).join(','),
    'snapshot.mode': 'initial',
    'signal.enabled.channels': 'source',
    'signal.data.collection': SIGNAL_TABLE,
    // Snapshot progress (replay --from snapshot waits for COMPLETED) on a topic of the tenant's own.
    'notification.enabled.channels': 'sink',
    'notification.sink.topic.name': notificationTopic(source.tenant),
    'incremental.snapshot.chunk.size': '4096',
    'heartbeat.interval.ms': String(HEARTBEAT_INTERVAL_MS),
    // A write in this database on every heartbeat keeps the slot's restart LSN moving while the captured tables are idle.
    'heartbeat.action.query': `INSERT INTO ${HEARTBEAT_TABLE} (id, beat_at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at`,
    ...EVENT_ENCODING,
    'tombstones.on.delete': 'true',
    // Truncates too: a projection must see them (op "t").
    'skipped.operations': 'none',
    ...TOPIC_CREATION,
    'slot.drop.on.stop': 'false',
    'status.update.interval.ms': '1000',
    'poll.interval.ms': '50',
    'max.batch.size': '4096',
    'max.queue.size': '16384',
    ...(source.dropOrigins && source.dropOrigins.length > 0
      ? { transforms: 'dropOrigin', 'transforms.dropOrigin.type': DROP_ORIGIN_TRANSFORM, 'transforms.dropOrigin.origin.prefixes': source.dropOrigins.join(',') }
      : {}),
  });
}

/** Where a tenant's connector reports snapshot progress (Debezium's sink notification channel). */
export function notificationTopic(tenant: string): string {
  return `${tenant}.strangler.notifications`;
}

/** Topic of one table of one tenant: `<tenant>.<schema>.<table>`. */
export function topicFor(tenant: string, table: string): string {
  return `${tenant}.${table.includes('.') ? table : `public.${table}`}`;
}
