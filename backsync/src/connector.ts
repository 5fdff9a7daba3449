import { DROP_ORIGIN_TRANSFORM, EVENT_ENCODING, postgresConnection, TOPIC_CREATION, type ConnectorConfig } from '@strangler/cdc';
import { BackSyncError } from './errors';

/** The service database whose owned tables back-sync captures. */
export interface ServiceSource {
  /** The extracted service's name: names the connector, the slot, the publication and the topic. */
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  /** The tables of the owned domain, in the service database (`schema.table` or `table` in public). */
  readonly tables: readonly string[];
  /** Replication origin prefixes whose changes the connector drops (the projector's copies: PROJECTION_ORIGIN_PREFIX), with the toolkit's DropOrigin. */
  readonly dropOrigins?: readonly string[];
}

/**
 * The service's record of the tenants whose domain it owns (migration
 * extracted/004): captured with the owned tables, into the same topic, so
 * the applier reads each change of ownership at its place among the
 * service's writes.
 */
export const OWNERSHIP_TABLE = 'strangler.domain_owners';

const SERVICE_NAME = /^[a-z][a-z0-9_]{0,30}$/;

export function backSyncConnectorName(service: string): string {
  return `strangler-backsync-${service}`;
}

/** One topic for every owned table: one partition holds the service's commits in their order, across tables (foreign keys). */
export function backSyncTopic(service: string): string {
  return `strangler.backsync.${service}`;
}

/**
 * The Debezium connector on the service's database (owned tables only).
 * Pure: the same source always yields the same config (registration is
 * idempotent). Every table's changes go to one topic with one partition
 * (Debezium's ByLogicalTableRouter), so the applier reads them in the
 * service's commit order across tables. No snapshot: back-sync carries what
 * the service commits from now on; the monolith already holds the rest.
 */
export function backSyncConnectorConfig(source: ServiceSource): ConnectorConfig {
  if (!SERVICE_NAME.test(source.service)) {
    throw new BackSyncError('STR_ERR_BACKSYNC_CONFIG', `service ${JSON.stringify(source.service)} must start with a-z and hold only a-z, 0-9 and _, at most 31 characters (it names a slot and a publication)`, {
      context: { service: source.service },
    });
  }
  if (source.tables.length === 0) throw new BackSyncError('STR_ERR_BACKSYNC_CONFIG', `service ${source.service}: back-sync needs at least one owned table`);
  const tables = [...new Set([...source.tables.map((t) => (t.includes('.') ? t : `public.${t}`)), OWNERSHIP_TABLE])];
  const slot = `strangler_backsync_${source.service}`;
  return Object.freeze({
    ...postgresConnection(source, slot, `backsync_${source.service}`),
    'table.include.list': tables.join(','),
    'replica.identity.autoset.values': tables.map((t) => `${t}:FULL`).join(','),
    'snapshot.mode': 'no_data',
    // The projector's copies (written under its replication origins) dropped first, where the workers have DropOrigin.
    ...(source.dropOrigins && source.dropOrigins.length > 0
      ? { transforms: 'dropOrigin,one', 'transforms.dropOrigin.type': DROP_ORIGIN_TRANSFORM, 'transforms.dropOrigin.origin.prefixes': source.dropOrigins.join(',') }
      : { transforms: 'one' }),
    'transforms.one.type': 'io.debezium.transforms.ByLogicalTableRouter',
    'transforms.one.topic.regex': '.*',
    'transforms.one.topic.replacement': backSyncTopic(source.service),
    // Encoded as the tenant connectors encode, so cdc's decode() reads these events the same way.
    ...EVENT_ENCODING,
    'tombstones.on.delete': 'false',
    'skipped.operations': 'none',
    ...TOPIC_CREATION,
    'slot.drop.on.stop': 'false',
    'status.update.interval.ms': '1000',
    'poll.interval.ms': '20',
    'max.batch.size': '4096',
    'max.queue.size': '16384',
  });
}
