import { mirrorProjection, readTableSpec, type MirrorTable, type Projection } from '@strangler/cdc';

/** The monolith tables this service keeps a copy of, with the indexes its reads need (tenant first). */
export const MIRRORED: ReadonlyArray<{ source: string; target: string; indexes: string[][] }> = [
  { source: 'public.users', target: 'users', indexes: [] },
  { source: 'public.rooms', target: 'rooms', indexes: [] },
  { source: 'public.room_members', target: 'room_members', indexes: [['room_id', 'user_id']] },
  { source: 'public.messages', target: 'messages', indexes: [['room_id', 'id']] },
];

export const PROJECTION = 'messaging-mirror';

/**
 * The service's projection: a mirror of every tenant's rooms and messages
 * tables, typed after the source catalog of one tenant database (all tenants
 * share the legacy schema).
 */
export async function messagingProjection(schemaSourceUrl: string, tenants?: readonly string[], onWarning?: (warning: Error) => void): Promise<Projection> {
  const tables: MirrorTable[] = await Promise.all(MIRRORED.map((t) => readTableSpec(schemaSourceUrl, t.source, t.target, { indexes: t.indexes })));
  // A monolith migration that adds a column is followed while running: the catalog is read again.
  const refresh = (t: MirrorTable) => readTableSpec(schemaSourceUrl, t.source, t.target, { indexes: t.indexes });
  // The heartbeat topics too: /freshness then sees a capture that stalled, not only events not yet applied.
  return mirrorProjection(PROJECTION, tables, { ...(tenants ? { tenants } : {}), refresh, heartbeats: true, ...(onWarning ? { onWarning } : {}) });
}
