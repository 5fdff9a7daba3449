import http from 'node:http';
import type { AddressInfo } from 'node:net';
import knexFactory, { type Knex } from 'knex';
import { BACKSYNC_ORIGIN_PREFIX, originSessions, PROJECTION_ORIGIN_PREFIX, PROJECTION_ORIGINS, freshnessReport, type FreshnessReport, kafkaClients, listCheckpoints, mirrorProjection, Projector, projectionRegistry, readTableSpec, type MirrorTable, type PartitionLag } from '@strangler/cdc';
import { redactUrl } from '@strangler/common';
import { migrate } from '@strangler/migrations';
import { ProjectError } from './errors';
import type { LoadedProject } from './load';

export interface MirrorRunOptions {
  /** Kafka bootstrap servers (the file's infrastructure.kafka, else this). */
  readonly brokers: readonly string[];
  /** Overrides services.<s>.mirrorPort. */
  readonly port?: number;
  readonly host?: string;
  readonly onError?: (err: unknown) => void;
  readonly onWarning?: (warning: Error) => void;
}

export interface RunningMirror {
  readonly url: string;
  readonly projection: string;
  /** Each mirrored table and where its copy is. */
  readonly tables: ReadonlyArray<{ readonly source: string; readonly target: string; readonly key: readonly string[] }>;
  readonly db: Knex;
  lag(): PartitionLag[];
  /** What /freshness answers: per tenant, how far behind its monolith the copies are. */
  freshness(): FreshnessReport;
  stop(): Promise<void>;
}

/** The copy of `schema.table` in the service's database: the table's name for public, `<schema>_<table>` otherwise. */
export function copyName(table: string): string {
  const [schema, name] = table.split('.') as [string, string];
  return schema === 'public' ? name : `${schema}_${name}`;
}

/** The projection's name (its checkpoints, its consumer group). */
export function mirrorProjectionName(p: LoadedProject, service: string): string {
  return `${p.project.name}-${service}-mirror`;
}

/**
 * A declared service's mirror, from the project file alone: every tenant's
 * captured tables it lists, copied into its database (multi-tenant: the
 * tenant in front of each key), exactly once, following the monolith's
 * migrations; served with /freshness (the proxy's freshness and
 * read-your-writes read it), /position, /metrics and /healthz, so that a
 * service in any language can be written on top of the copies.
 */
export async function startMirror(p: LoadedProject, service: string, o: MirrorRunOptions): Promise<RunningMirror> {
  const s = p.project.services[service];
  if (!s) throw new ProjectError('STR_ERR_PROJECT_UNKNOWN_SERVICE', `the project file declares no service ${JSON.stringify(service)}${Object.keys(p.project.services).length ? ` (it declares ${Object.keys(p.project.services).join(', ')})` : ' (add one under services:, with url, database and mirrors)'}`);
  if (s.mirrors.length === 0) throw new ProjectError('STR_ERR_PROJECT_UNKNOWN_SERVICE', `service ${service} mirrors no table: list captured tables under services.${service}.mirrors`);
  const databaseUrl = p.serviceDatabases[service]!;
  const tenants = Object.keys(p.project.tenants);
  // Every tenant has the same legacy schema: the first one's catalog types the copies.
  const schemaSource = p.databases[tenants[0]!]!;
  await migrate('extracted', databaseUrl);
  const spec = (source: string) =>
    readTableSpec(schemaSource, source, copyName(source), { ...(p.project.capture.keys[source] ? { key: p.project.capture.keys[source] } : {}) }).catch((err: Error & { code?: string }) => {
      // Said in the project file's terms: where the key goes.
      if (err.code === 'STR_ERR_CDC_TABLE_UNSUITABLE' && !p.project.capture.keys[source] && /no primary key/.test(err.message)) {
        throw new ProjectError('STR_ERR_PROJECT_TABLE_UNKEYED', `services.${service}.mirrors: ${source} has no primary key and no unique index on NOT NULL columns, so its copy cannot tell rows apart: name the columns that identify a row in ${p.file} (capture.keys: { ${source}: [<column>, ...] }), or add a primary key to the table in the monolith`, { cause: err });
      }
      throw err;
    });
  const tables: MirrorTable[] = await Promise.all(s.mirrors.map(spec));
  const name = mirrorProjectionName(p, service);
  const projection = mirrorProjection(name, tables, { tenants, refresh: (t) => spec(t.source), heartbeats: true, ...(o.onWarning ? { onWarning: o.onWarning } : {}) });
  // The service's pool (what it serves from), and the mirror's own, each session under a replication origin: a
  // back-sync connector on this database drops the copies before Kafka (DropOrigin), so only the service's writes go back.
  const db = knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 10 } });
  const mirrorDb = knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: PROJECTION_ORIGINS, afterCreate: originSessions(PROJECTION_ORIGIN_PREFIX, (reason) => o.onWarning?.(new Error(`the mirror writes without a replication origin: ${reason}`))) } });
  const projector = new Projector(projection, {
    kafka: kafkaClients(o.brokers, `strangler-${name}`),
    db: mirrorDb,
    // Back-sync's writes into the monoliths come back on their streams: never applied again.
    skipOrigins: [BACKSYNC_ORIGIN_PREFIX],
    ...(o.onError ? { onError: o.onError } : {}),
  });
  try {
    await projector.start();
  } catch (err) {
    await db.destroy();
    await mirrorDb.destroy();
    throw err;
  }
  const registry = projectionRegistry(name, () => projector.status());
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mirror');
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const route = async () => {
      if (req.method !== 'GET') return json(405, { error: { code: 'method_not_allowed', message: 'the mirror answers GET only' } });
      switch (url.pathname) {
        case '/freshness':
          return json(200, freshnessReport(projector.status()));
        case '/position': {
          const tenant = url.searchParams.get('tenant');
          if (tenant !== null && !tenants.includes(tenant)) return json(400, { error: { code: 'unknown_tenant', message: `no tenant ${JSON.stringify(tenant)} in the project (tenants: ${tenants.join(', ')})` } });
          const rows = (await listCheckpoints(db, name)).filter((r) => tenant === null || r.tenant === tenant);
          return json(200, { projection: name, positions: rows.map((r) => ({ tenant: r.tenant, topic: r.topic, partition: r.partition, offset: Number(r.kafka_offset), lsn: r.lsn, sourceTs: r.source_ts?.toISOString() ?? null, appliedAt: r.applied_at.toISOString() })) });
        }
        case '/metrics':
          return res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
        case '/healthz':
          await db.raw('SELECT 1');
          return json(200, { status: 'ok', service, projection: name });
        default:
          return json(404, { error: { code: 'route_not_found', message: `no route for GET ${url.pathname} (the mirror serves /freshness, /position, /metrics, /healthz)` } });
      }
    };
    route().catch((err: Error) => json(503, { error: { code: 'unavailable', message: err.message } }));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? s.mirrorPort, o.host ?? '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await projector.stop();
    await db.destroy();
    await mirrorDb.destroy();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new ProjectError('STR_ERR_PROJECT_PORT_TAKEN', `port ${o.port ?? s.mirrorPort} is taken: set services.${service}.mirrorPort to a free one (0: any), or pass --port`);
    throw err;
  }
  const a = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${a.port}`,
    projection: name,
    tables: tables.map((t) => ({ source: t.source, target: t.target, key: t.key })),
    db,
    lag: () => projector.status(),
    freshness: () => freshnessReport(projector.status()),
    stop: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await projector.stop();
      await db.destroy();
      await mirrorDb.destroy();
    },
  };
}

/** Said when the mirror starts: where each copy is. */
export function describeMirror(m: RunningMirror, databaseUrl: string): string {
  return [`mirror ${m.projection}: serving ${m.url} (/freshness, /position, /metrics); copies in ${redactUrl(databaseUrl)}:`, ...m.tables.map((t) => `  ${t.source} -> ${t.target} (key tenant, ${t.key.join(', ')})`)].join('\n');
}
