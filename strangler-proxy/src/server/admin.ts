import crypto from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { isStranglerError } from '@strangler/common';
import { MODES } from '../config/schema';
import { suggestRules } from '../parity/suggest';
import { ProxyError } from '../errors';
import { effectiveMode, formatSetting } from '../routes/modes';
import { mountDashboard } from './dashboard';
import { isWindow, WINDOW_NAMES, type WindowName } from '../history/windows';
import type { CompiledRoute } from '../routes/table';
import type { ProxyRuntime } from './runtime';
import { hostPort, listen } from './runtime';

export interface AdminServer {
  readonly url: string;
  close(): Promise<void>;
}

type Role = 'read' | 'write';

const SetModeBody = z
  .object({
    mode: z.enum(MODES),
    percent: z.number().min(0).max(100).optional(),
    tenant: z.string().min(1).optional(),
    reason: z.string().trim().min(1, 'say why: the reason goes into the audit log'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.mode === 'canary' && b.percent === undefined) ctx.addIssue({ code: 'custom', path: ['percent'], message: 'is required when mode is canary' });
    if (b.mode !== 'canary' && b.percent !== undefined) ctx.addIssue({ code: 'custom', path: ['percent'], message: 'only applies to mode canary' });
  });
const RollbackBody = z.object({ tenant: z.string().min(1).optional(), reason: z.string().trim().optional() }).strict();
const GateBody = z.object({ tenant: z.string().min(1).optional(), reason: z.string().trim().min(1, 'say why (it goes to the log)') }).strict();
const OwnBody = z
  .object({
    to: z.enum(['service', 'monolith']),
    reason: z.string().trim().min(1, 'say why: the reason goes into the audit log'),
    force: z.boolean().default(false),
  })
  .strict();
const windowMs = (v: unknown) => Math.min(600_000, Math.max(1_000, Number(v ?? 300_000) || 300_000));

/**
 * The methods the app's routes answer on a path (HEAD with GET, as Express
 * does), for a 405 with Allow instead of a 404 when only the method is wrong.
 * Read from the router once every route is registered.
 */
function allowedMethods(app: express.Express): (path: string) => string[] {
  type Layer = { route?: { methods: Record<string, boolean> }; match(path: string): unknown };
  const routes = (app.router.stack as unknown as Layer[]).filter((l) => l.route !== undefined);
  return (path) => {
    const methods = new Set<string>();
    for (const l of routes) if (l.match(path)) for (const m of Object.keys(l.route!.methods)) if (m !== '_all') methods.add(m.toUpperCase());
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

/**
 * The admin API, on its own port: bearer tokens compared in constant time,
 * read and write roles. Probes (/healthz, /readyz) and the dashboard's page
 * (which holds no data: it reads this API with the operator's token) need no
 * token; everything else does, /metrics included.
 */
export async function startAdmin(rt: ProxyRuntime, port: number, host: string): Promise<AdminServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '64kb' }));

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  mountDashboard(app);
  app.get('/readyz', (_req, res) => {
    const ready = rt.ready;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', config: rt.lastReload });
  });

  const auth = (role: Role) => (req: Request, res: Response, next: NextFunction) => {
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return void sendError(res, 401, 'STR_ERR_ADMIN_UNAUTHENTICATED', 'send Authorization: Bearer <token> (see admin.tokens in the config)');
    const digest = crypto.createHash('sha256').update(token).digest();
    let found: { name: string; role: Role } | null = null;
    // Compare against every token, always, so timing says nothing about which one nearly matched.
    for (const t of rt.current.adminTokens) if (crypto.timingSafeEqual(digest, t.digest) && found === null) found = t;
    if (!found) return void sendError(res, 401, 'STR_ERR_ADMIN_UNAUTHENTICATED', 'this token is not valid');
    if (role === 'write' && found.role !== 'write') return void sendError(res, 403, 'STR_ERR_ADMIN_FORBIDDEN', `token ${found.name} is read-only`);
    const hint = req.headers['x-strangler-actor'];
    res.locals.actor = typeof hint === 'string' && /^[\w.@-]{1,64}$/.test(hint) ? `${found.name}:${hint}` : found.name;
    next();
  };

  app.get('/metrics', auth('read'), async (_req, res) => {
    res.type(rt.metrics.registry.contentType).send(await rt.metricsText());
  });
  app.get('/config', auth('read'), (_req, res) => {
    const c = rt.current;
    res.json({ source: c.source, tenants: [...c.tenants.values()].map(({ database, ...t }) => ({ ...t, database: database !== null /* a secret: only whether there is one */ })), services: [...c.services.keys()], routes: c.table.routes.length, lastReload: rt.lastReload, links: c.config.dashboard.links });
  });
  app.post('/config/reload', auth('write'), async (_req, res) => {
    const result = await rt.reload();
    res.status(result.ok ? 200 : 422).json(result);
  });
  app.get('/routes', auth('read'), (_req, res) => void res.json({ data: rt.current.table.routes.map((r) => routeView(rt, r)) }));
  app.get('/routes/:id', auth('read'), (req, res) => void res.json(routeView(rt, findRoute(rt, String(req.params.id)))));
  app.get('/routes/:id/history', auth('read'), async (req, res) => {
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
    const id = String(req.params.id);
    const data = await rt.history(id, limit);
    // A route dropped from the config keeps its history; an id with neither is a typo, said as one.
    if (data.length === 0) findRoute(rt, id);
    res.json({ data });
  });
  app.put('/routes/:id/mode', auth('write'), async (req, res) => {
    const body = parse(SetModeBody, req.body);
    const setting = body.mode === 'canary' ? { mode: body.mode, percent: body.percent! } : { mode: body.mode };
    const change = await rt.setMode(String(req.params.id), body.tenant ?? null, setting, res.locals.actor as string, body.reason);
    res.json({ change, route: routeView(rt, findRoute(rt, String(req.params.id))) });
  });
  app.post('/routes/:id/rollback', auth('write'), async (req, res) => {
    const body = parse(RollbackBody, req.body ?? {});
    const change = await rt.rollback(String(req.params.id), body.tenant ?? null, res.locals.actor as string, body.reason ?? '');
    res.json({ change, route: routeView(rt, findRoute(rt, String(req.params.id))) });
  });
  app.get('/parity', auth('read'), async (req, res) => {
    const w = windowMs(req.query.windowMs);
    const routes = new Set(rt.current.table.routes.map((r) => r.id));
    res.json({ windowMs: w, data: rt.parityStats(w).filter((s) => routes.has(s.route)), noise: await rt.learnedNoise([...routes]) });
  });
  app.get('/history', auth('read'), async (req, res) => {
    const q = query(req);
    const window = windowName(q('window'));
    if (q('route') !== undefined) findRoute(rt, q('route')!);
    if (q('tenant') !== undefined && !rt.current.tenants.has(q('tenant')!)) throw new ProxyError('STR_ERR_TENANT_UNKNOWN', `no tenant ${q('tenant')}: one of ${[...rt.current.tenants.keys()].join(', ')}`, { status: 404 });
    res.json(await rt.charts(window, { route: q('route'), tenant: q('tenant'), service: q('service') }));
  });
  app.get('/catalog', auth('read'), async (_req, res) => {
    const base = rt.current.config.dashboard.catalogUrl;
    if (base === undefined) throw new ProxyError('STR_ERR_ADMIN_CATALOG_UNSET', 'no catalog: set dashboard.catalogUrl to where `strangler catalog serve` listens', { status: 404 });
    const url = `${base.replace(/\/$/, '')}/catalog`;
    let body: unknown;
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      body = await r.json();
    } catch (err) {
      throw new ProxyError('STR_ERR_ADMIN_CATALOG_UNAVAILABLE', `the catalog at ${url} did not answer: ${(err as Error).message}`, { status: 502 });
    }
    res.json(body);
  });
  app.get('/progress', auth('read'), async (req, res) => {
    res.json(await rt.progress(windowName(query(req)('window'))));
  });
  app.get('/parity/mismatches', auth('read'), async (req, res) => {
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
    const q = (k: string) => (typeof req.query[k] === 'string' ? (req.query[k] as string) : null);
    // Each with the rules that would explain it (checked by comparing again under them), against the route's rules now.
    const data = (await rt.mismatches(q('route'), q('tenant'), limit)).map((m) => {
      const route = rt.current.table.byId.get(m.routeId);
      const answer = (a: { status: number; body: string }) => ({ status: a.status, headers: { 'content-type': 'application/json' }, body: a.body });
      return { ...m, suggestions: route ? suggestRules(answer(m.primary), answer(m.shadow), route.parityRules) : [] };
    });
    res.json({ data });
  });
  app.get('/gates', auth('read'), async (_req, res) => void res.json(await rt.gateControls().then((c) => ({ paused: c.paused, controls: c.entries }))));
  app.post('/gates/pause', auth('write'), async (req, res) => {
    const body = parse(GateBody.omit({ tenant: true }), req.body ?? {});
    await rt.setGateControl(null, null, true, res.locals.actor as string, body.reason);
    res.json({ paused: true });
  });
  app.post('/gates/resume', auth('write'), async (req, res) => {
    const body = parse(GateBody.omit({ tenant: true }), req.body ?? {});
    await rt.setGateControl(null, null, false, res.locals.actor as string, body.reason);
    res.json({ paused: false });
  });
  for (const [verb, on] of [['freeze', true], ['unfreeze', false]] as const) {
    app.post(`/routes/:id/${verb}`, auth('write'), async (req, res) => {
      const body = parse(GateBody, req.body ?? {});
      await rt.setGateControl(String(req.params.id), body.tenant ?? null, on, res.locals.actor as string, body.reason);
      res.json({ route: String(req.params.id), tenant: body.tenant ?? null, frozen: on });
    });
  }
  app.get('/shadow/recent', auth('read'), async (_req, res) => void res.json({ data: await rt.recentExchanges(), queueDepth: rt.shadowQueueDepth, thread: rt.shadowThread }));
  app.get('/ownership', auth('read'), async (req, res) => {
    const limit = Math.min(200, Math.max(1, Number(req.query.limit ?? 20) || 20));
    res.json(await rt.ownership.status(limit));
  });
  app.get('/ownership/conflicts', auth('read'), async (req, res) => {
    const q = (k: string) => (typeof req.query[k] === 'string' ? (req.query[k] as string) : null);
    const domain = q('domain') ?? [...rt.current.domains.keys()][0];
    if (!domain) throw new ProxyError('STR_ERR_DOMAIN_UNKNOWN', 'no domain is declared (domains in the config)', { status: 404 });
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
    res.json({ domain, data: await rt.ownership.conflicts(domain, q('tenant'), limit) });
  });
  app.post('/ownership/:domain/:tenant', auth('write'), async (req, res) => {
    const body = parse(OwnBody, req.body);
    if (body.force && body.reason.length < 8) throw new ProxyError('STR_ERR_ADMIN_BAD_REQUEST', 'reason: a forced hand-over needs a reason that says why (at least 8 characters)', { status: 400 });
    const result = await rt.ownership.handOver(String(req.params.domain), String(req.params.tenant), body.to, res.locals.actor as string, body.reason, body.force);
    res.json(result);
  });
  app.get('/workers', auth('read'), async (_req, res) => void res.json(await rt.workers()));
  app.get('/services', auth('read'), async (_req, res) => void res.json({ data: await rt.services() }));

  const methodsOf = allowedMethods(app);
  app.use((req: Request, res: Response) => {
    const allowed = methodsOf(req.path);
    if (allowed.length === 0) return void sendError(res, 404, 'STR_ERR_ADMIN_NOT_FOUND', 'no such admin endpoint');
    res.setHeader('allow', allowed.join(', '));
    sendError(res, 405, 'STR_ERR_ADMIN_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}: use ${allowed.join(' or ')}`);
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') return sendError(res, 400, 'STR_ERR_ADMIN_BAD_REQUEST', 'body is not valid JSON');
    if (e.type === 'entity.too.large') return sendError(res, 413, 'STR_ERR_ADMIN_BAD_REQUEST', 'body is too large');
    if (err instanceof ProxyError) return sendError(res, err.status, err.code, err.message, err.context);
    if (isStranglerError(err)) return sendError(res, 500, err.code, err.message);
    rt.logger.error({ err }, 'admin request failed');
    sendError(res, 500, 'STR_ERR_ADMIN_INTERNAL', 'the admin API failed on this request');
  });

  const http = createServer(app);
  await listen(http, port, host);
  return {
    url: `http://${hostPort(http.address() as AddressInfo)}`,
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

function findRoute(rt: ProxyRuntime, id: string): CompiledRoute {
  const r = rt.current.table.byId.get(id);
  if (!r) throw new ProxyError('STR_ERR_ROUTE_UNKNOWN', `no route with id "${id}"`, { status: 404 });
  return r;
}

function routeView(rt: ProxyRuntime, r: CompiledRoute) {
  const { overrides } = rt.routing;
  const tenants = Object.fromEntries([...rt.current.tenants.keys()].map((t) => [t, effectiveMode(r, t, overrides)]));
  return {
    id: r.id,
    match: { methods: r.methods ? [...r.methods] : null, path: r.template.source, host: r.host, header: r.header },
    service: r.service,
    tenants,
    summary: Object.entries(tenants).map(([t, m]) => `${t}=${formatSetting(m)}`).join(' '),
  };
}

const query = (req: Request) => (k: string): string | undefined => (typeof req.query[k] === 'string' && req.query[k] !== '' ? (req.query[k] as string) : undefined);

/** A chart window by name (15m by default): anything else is a 400 that lists them. */
function windowName(v: string | undefined): WindowName {
  if (v === undefined) return '15m';
  if (isWindow(v)) return v;
  throw new ProxyError('STR_ERR_ADMIN_BAD_REQUEST', `window must be one of ${WINDOW_NAMES.join(', ')}, not ${JSON.stringify(v)}`, { status: 400 });
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  // express.json() leaves the body undefined when the request is not JSON at all.
  if (body === undefined) throw new ProxyError('STR_ERR_ADMIN_BAD_REQUEST', 'send a JSON object with Content-Type: application/json', { status: 400 });
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  throw new ProxyError('STR_ERR_ADMIN_BAD_REQUEST', r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '), {
    status: 400,
    context: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  });
}

function sendError(res: Response, status: number, code: string, message: string, details?: Readonly<Record<string, unknown>>): void {
  res.status(status).json({ error: details && Object.keys(details).length > 0 ? { code, message, details } : { code, message } });
}
