import express, { type Express, type Request } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { freshnessReport, listCheckpoints, projectionRegistry, type PartitionLag } from '@strangler/cdc';
import { Gauge, Registry } from 'prom-client';
import { TENANT_NAME } from '@strangler/common';
import { ApiError, errorHandler, id, notFound, pageQuery, query, shape, toPage } from './contract';
import { PROJECTION } from './projection';
import { tenantScope } from './tenant-scope';
import { mountWrites, type WriteOptions } from './writes';

/** The header the proxy sets; the service listens on loopback behind it and believes nobody else. */
export const TENANT_HEADER = 'x-strangler-tenant';

function tenantOf(req: Request): string {
  const t = req.headers[TENANT_HEADER];
  if (typeof t !== 'string' || !TENANT_NAME.test(t)) {
    throw new ApiError(400, 'tenant_required', `send the tenant in ${TENANT_HEADER} (the proxy does)`);
  }
  return t;
}

const roomsQuery = pageQuery.extend({ kind: z.enum(['direct', 'group', 'announcement']).optional(), include_archived: z.enum(['true', 'false']).default('false') });
const messagesQuery = pageQuery.extend({ include_deleted: z.enum(['true', 'false']).default('false') });

/**
 * The rooms and messages API this service takes over, for every tenant from
 * one database; every query is scoped by tenant. Same paths, shapes and
 * errors as the monolith. Writes (writes.ts) commit only for a tenant whose
 * domain the service owns, or run as a dry run (rolled back) for parity.
 */
/** Monolith writes to the domain's tables while the service owned them, counted per tenant and table since start. */
export type ConflictCounts = () => ReadonlyArray<{ readonly tenant: string; readonly table: string; readonly n: number }>;

export function createMessagingApp(db: Knex, lag: () => readonly PartitionLag[] = () => [], writes: WriteOptions = {}, conflicts: ConflictCounts = () => []): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const metrics = projectionMetrics(lag, conflicts);

  /** Prometheus: per projection partition, consumer lag, end-to-end lag of the newest event, events applied and dead-lettered. */
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });

  app.get('/healthz', async (_req, res) => {
    await db.raw('SELECT 1');
    res.json({ status: 'ok', service: 'messaging' });
  });

  /** Per tenant, how old the changes this service may lack can be (freshnessReport: pending events and the heartbeat); the proxy sends reads to the monolith while that is too old. */
  app.get('/freshness', (_req, res) => void res.json(freshnessReport(lag())));

  /** Per tenant, how far this service's state has got in each source table (the proxy's read-your-writes needs it). */
  app.get('/position', async (req, res) => {
    const tenant = tenantOf(req);
    const rows = (await listCheckpoints(db, PROJECTION)).filter((r) => r.tenant === tenant);
    res.json({
      tenant,
      tables: rows.map((r) => ({ topic: r.topic, partition: r.partition, offset: Number(r.kafka_offset), commit_lsn: r.commit_lsn, lsn: r.lsn, source_ts: r.source_ts?.toISOString() ?? null, applied_at: r.applied_at.toISOString() })),
    });
  });

  app.get('/api/rooms', async (req, res) => {
    const scope = tenantScope(db, tenantOf(req));
    const q = query(req, roomsQuery);
    const rows = await scope('rooms')
      .modify((b) => {
        if (q.kind) b.where({ kind: q.kind });
        if (q.include_archived === 'false') b.whereNull('archived_at');
      })
      .orderBy('id')
      .limit(q.limit + 1)
      .offset(q.offset);
    res.json(toPage(rows.map(shape.room), q.limit, q.offset));
  });

  app.get('/api/rooms/:roomId', async (req, res) => {
    const scope = tenantScope(db, tenantOf(req));
    const roomId = id(req, 'roomId');
    const row = await scope('rooms').where({ id: roomId }).first();
    if (!row) throw notFound('room', roomId);
    res.json(shape.room(row));
  });

  app.get('/api/rooms/:roomId/members', async (req, res) => {
    const scope = tenantScope(db, tenantOf(req));
    const roomId = id(req, 'roomId');
    const { limit, offset } = query(req, pageQuery);
    if (!(await scope('rooms').where({ id: roomId }).first('id'))) throw notFound('room', roomId);
    const rows = await scope('room_members').where({ room_id: roomId }).orderBy('user_id').limit(limit + 1).offset(offset);
    res.json(toPage(rows.map(shape.member), limit, offset));
  });

  app.get('/api/rooms/:roomId/messages', async (req, res) => {
    const scope = tenantScope(db, tenantOf(req));
    const roomId = id(req, 'roomId');
    const q = query(req, messagesQuery);
    if (!(await scope('rooms').where({ id: roomId }).first('id'))) throw notFound('room', roomId);
    const rows = await scope('messages')
      .where({ room_id: roomId })
      .modify((b) => {
        if (q.include_deleted === 'false') b.whereNull('deleted_at');
      })
      .orderBy('id')
      .limit(q.limit + 1)
      .offset(q.offset);
    res.json(toPage(rows.map(shape.message), q.limit, q.offset));
  });

  app.get('/api/messages/:messageId', async (req, res) => {
    const scope = tenantScope(db, tenantOf(req));
    const messageId = id(req, 'messageId', Number.MAX_SAFE_INTEGER);
    const row = await scope('messages').where({ id: messageId }).whereNull('deleted_at').first();
    if (!row) throw notFound('message', messageId);
    res.json(shape.message(row));
  });

  mountWrites(app, db, tenantOf, writes);

  app.use((req, res) => {
    res.status(404).json({ error: { code: 'route_not_found', message: `no route for ${req.method} ${req.path}` } });
  });
  app.use(errorHandler);
  return app;
}

function projectionMetrics(lag: () => readonly PartitionLag[], conflicts: ConflictCounts): Registry {
  const registry = projectionRegistry(PROJECTION, lag);
  new Gauge({
    name: 'strangler_ownership_conflicts',
    help: "Monolith writes to the domain's tables while the service owned them (detect mode; each kept in strangler.ownership_conflicts, listed by `strangler own conflicts`), since the process started",
    labelNames: ['tenant', 'table'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of conflicts()) this.labels(c.tenant, c.table).set(c.n);
    },
  });
  return registry;
}
