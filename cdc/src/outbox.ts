import type { ConnectClient, ConnectorConfig } from './connect-client';
import { postgresConnection, TOPIC_CREATION } from './connector-config';
import { CdcError } from './errors';

/** The service database whose outbox is published. */
export interface OutboxSource {
  /** The extracted service: names the connector, slot, publication and the topics (`<service>.events.<aggregate>`). */
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
}

export const OUTBOX_TABLE = 'public.outbox';
const SERVICE_NAME = /^[a-z][a-z0-9_]{0,30}$/;

export const outboxConnectorName = (service: string) => `strangler-outbox-${service}`;
/** The topic of one aggregate's events. */
export const eventTopic = (service: string, aggregateType: string) => `${service}.events.${aggregateType}`;
/** Every event topic of every service (what a consumer of domain events subscribes to). */
export const EVENT_TOPICS = /^[a-z][a-z0-9_]*\.events\.[a-z][a-z0-9_-]*$/;

/**
 * Debezium's outbox event router on a service's `public.outbox`
 * (migration extracted/005): each row inserted becomes one event on
 * `<service>.events.<aggregate_type>`, keyed by `aggregate_id` (as text),
 * whose value is the row's JSON payload as its text (no schema), with
 * headers `id` (the event's id: consumers deduplicate by it), `eventType`,
 * `eventVersion` and `tenant`. No snapshot: events are what the service
 * commits from now on. Pure: registration is idempotent.
 */
export function outboxConnectorConfig(s: OutboxSource): ConnectorConfig {
  if (!SERVICE_NAME.test(s.service)) {
    throw new CdcError('STR_ERR_CDC_CONNECTOR_INVALID', `service ${JSON.stringify(s.service)} must start with a-z and hold only a-z, 0-9 and _, at most 31 characters (it names a slot and a publication)`);
  }
  const slot = `strangler_outbox_${s.service}`;
  return Object.freeze({
    ...postgresConnection(s, slot, `outbox_${s.service}`),
    'table.include.list': OUTBOX_TABLE,
    'snapshot.mode': 'no_data',
    'tombstones.on.delete': 'false',
    transforms: 'outbox',
    'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
    'transforms.outbox.table.field.event.id': 'id',
    'transforms.outbox.table.field.event.key': 'aggregate_id',
    'transforms.outbox.table.field.event.payload': 'payload',
    'transforms.outbox.route.by.field': 'aggregate_type',
    'transforms.outbox.route.topic.replacement': `${s.service}.events.\${routedByValue}`,
    'transforms.outbox.table.fields.additional.placement': 'type:header:eventType,version:header:eventVersion,tenant:header:tenant',
    // The payload's JSON text as it is (a string converter): expanding it into a Connect struct drops nulls and empty arrays.
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'header.converter': 'org.apache.kafka.connect.storage.StringConverter',
    ...TOPIC_CREATION,
    'slot.drop.on.stop': 'false',
    'status.update.interval.ms': '1000',
    'poll.interval.ms': '20',
  });
}

/** Registers (or updates) a service's outbox connector and waits until its task runs. */
export async function registerOutboxConnector(connect: ConnectClient, s: OutboxSource, timeoutMs = 60_000): Promise<string> {
  const name = outboxConnectorName(s.service);
  await connect.putConfig(name, outboxConnectorConfig(s));
  const started = Date.now();
  for (;;) {
    const st = await connect.status(name);
    if (st?.connector.state === 'RUNNING' && st.tasks.length > 0 && st.tasks.every((t) => t.state === 'RUNNING')) return name;
    const failed = st?.tasks.find((t) => t.state === 'FAILED');
    if (failed) throw new CdcError('STR_ERR_CDC_CONNECTOR_FAILED', `outbox connector ${name} failed: ${failed.trace?.split('\n')[0] ?? 'no trace'}`);
    if (Date.now() - started > timeoutMs) throw new CdcError('STR_ERR_CDC_CONNECTOR_NOT_STREAMING', `outbox connector ${name} did not start within ${timeoutMs} ms (state ${st?.connector.state ?? 'none'})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
