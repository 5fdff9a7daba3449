import { DROP_ORIGIN_TRANSFORM } from './connector-config';
import { CdcError } from './errors';
import { connectorName, slotName, tenantConnectorConfig, topicFor } from './connector-config';

const source = { tenant: 'acme', host: '127.0.0.1', port: 54329, database: 'monolith_acme', user: 'postgres' };

describe('tenantConnectorConfig', () => {
  it('gives each tenant its own slot, publication and topic prefix', () => {
    const c = tenantConnectorConfig(source);
    expect(c['topic.prefix']).toBe('acme');
    expect(c['slot.name']).toBe('strangler_acme');
    expect(c['publication.name']).toBe('strangler_acme');
    expect(c['plugin.name']).toBe('pgoutput');
    expect(connectorName('acme')).toBe('strangler-acme');
    expect(slotName('acme')).toBe('strangler_acme');
    expect(topicFor('acme', 'messages')).toBe('acme.public.messages');
  });

  it('captures the legacy tables with full before-images, plus the signal and heartbeat tables', () => {
    const c = tenantConnectorConfig(source);
    expect(c['table.include.list']).toBe(
      'public.users,public.rooms,public.room_members,public.messages,strangler.debezium_signal,strangler.cdc_heartbeat',
    );
    expect(c['replica.identity.autoset.values']).toBe('public.users:FULL,public.rooms:FULL,public.room_members:FULL,public.messages:FULL');
    expect(c['signal.data.collection']).toBe('strangler.debezium_signal');
    expect(c['heartbeat.interval.ms']).toBe('5000');
    expect(c['heartbeat.action.query']).toContain('strangler.cdc_heartbeat');
  });

  it('keeps decimals exact and times as ISO strings, and emits tombstones and truncates', () => {
    const c = tenantConnectorConfig(source);
    expect(c['decimal.handling.mode']).toBe('string');
    expect(c['time.precision.mode']).toBe('isostring');
    expect(c['tombstones.on.delete']).toBe('true');
    expect(c['skipped.operations']).toBe('none');
  });

  it('is deterministic, which makes registration idempotent', () => {
    expect(tenantConnectorConfig(source)).toEqual(tenantConnectorConfig({ ...source }));
    expect(Object.isFrozen(tenantConnectorConfig(source))).toBe(true);
  });

  it('refuses a tenant name that cannot name a slot or a topic', () => {
    expect(() => tenantConnectorConfig({ ...source, tenant: 'Acme-Bank' })).toThrow(CdcError);
    expect(() => tenantConnectorConfig({ ...source, tenant: 'Acme-Bank' })).toThrow(
      'tenant "Acme-Bank" must start with a letter and hold only a-z, 0-9 and _, at most 31 characters (it names a topic prefix, a slot and a publication)',
    );
  });
});

describe('dropping the changes made under replication origins', () => {
  const source = { tenant: 'acme', host: '127.0.0.1', port: 5432, database: 'monolith_acme', user: 'postgres' };

  it("adds the toolkit's transformation only when asked, with the prefixes", () => {
    expect(tenantConnectorConfig(source).transforms).toBeUndefined();
    expect(tenantConnectorConfig({ ...source, dropOrigins: [] }).transforms).toBeUndefined();
    expect(tenantConnectorConfig({ ...source, dropOrigins: ['strangler_backsync', 'other'] })).toMatchObject({
      transforms: 'dropOrigin',
      'transforms.dropOrigin.type': DROP_ORIGIN_TRANSFORM,
      'transforms.dropOrigin.origin.prefixes': 'strangler_backsync,other',
    });
  });
});
