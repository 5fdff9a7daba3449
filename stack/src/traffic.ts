import fs from 'node:fs';
import { request } from 'undici';
import { sleep } from '@strangler/common';
import { formatSummary as formatParity, loadConfigFile, readCorpus, runParity, writeReports, type ParityStats, type RouteChange } from '@strangler/proxy';

/** What the demo reads of the monolith's JSON: ids of what it created or listed. */
interface Json {
  readonly id?: number;
  readonly data?: ReadonlyArray<{ readonly id: number }>;
}

export interface TrafficOptions {
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly token: string;
  readonly tenants: readonly string[];
  /** Requests per second across all tenants. */
  readonly rate: number;
  readonly seconds: number;
  /** The demo proxy config (its capture file is replayed at the end). */
  readonly configFile: string;
  readonly reportDir: string;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
}

interface Known {
  rooms: Array<{ id: number; at: number }>;
  messages: Array<{ id: number; at: number }>;
  users: number[];
}

/** Entities are read back only once older than this: a read racing CDC would be replication lag, not a parity finding. */
const SETTLED_MS = 3_000;

/**
 * The demo's traffic: a realistic mix through the proxy for every tenant
 * (lists and reads of rooms, members and messages; new messages and rooms),
 * while it prints the shadow parity figures and the route modes the gates
 * set; at the end it replays the corpus the proxy captured with
 * `strangler parity run` and prints that report.
 */
export async function runTraffic(o: TrafficOptions): Promise<{ passed: boolean }> {
  const known = new Map<string, Known>(o.tenants.map((t) => [t, { rooms: [], messages: [], users: [] }]));
  const call = async (tenant: string, method: string, path: string, body?: unknown) => {
    const res = await request(`${o.proxyUrl}${path}`, {
      method: method as 'GET',
      headers: { host: `${tenant}.localhost`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: text ? (JSON.parse(text) as Json) : null };
  };
  const admin = async <T>(path: string): Promise<T> => {
    const res = await request(`${o.adminUrl}${path}`, { headers: { authorization: `Bearer ${o.token}` } });
    return (await res.body.json()) as T;
  };
  /** The id of what a POST created; a demo that cannot create its data stops with the answer. */
  const created = async (tenant: string, path: string, body: unknown): Promise<number> => {
    const r = await call(tenant, 'POST', path, body);
    if (r.status !== 201 || r.json?.id === undefined) throw new Error(`POST ${path} for ${tenant} answered ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json.id;
  };

  async function seed(tenant: string): Promise<void> {
    const k = known.get(tenant)!;
    const users = await call(tenant, 'GET', '/api/users?limit=50');
    k.users = (users.json?.data ?? []).map((u: { id: number }) => u.id);
    if (k.users.length < 2) {
      for (let i = k.users.length; i < 3; i++) k.users.push(await created(tenant, '/api/users', { email: `demo${i}.${Date.now()}@${tenant.replace(/[^a-z0-9-]/gi, '-')}.example`, display_name: `Demo ${i}` }));
    }
    const rooms = await call(tenant, 'GET', '/api/rooms?limit=100&include_archived=true');
    k.rooms = (rooms.json?.data ?? []).map((r: { id: number }) => ({ id: r.id, at: 0 }));
    if (k.rooms.length === 0) k.rooms.push({ id: await created(tenant, '/api/rooms', { name: `${tenant} desk`, created_by: k.users[0] }), at: Date.now() });
    const first = k.rooms[0]!.id;
    const msgs = await call(tenant, 'GET', `/api/rooms/${first}/messages?limit=100`);
    k.messages = (msgs.json?.data ?? []).map((m: { id: number }) => ({ id: m.id, at: 0 }));
  }

  for (const t of o.tenants) await seed(t);
  // What seeding created must reach the extracted service before it is read: that would be replication lag, not parity.
  if ([...known.values()].some((k) => k.rooms.some((r) => r.at > 0))) await sleep(SETTLED_MS);

  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(Math.random() * xs.length)];
  const settled = (xs: Array<{ id: number; at: number }>) => xs.filter((x) => Date.now() - x.at > SETTLED_MS);
  let sent = 0;
  let failed = 0;
  const one = async () => {
    const tenant = pick(o.tenants)!;
    const k = known.get(tenant)!;
    const r = Math.random();
    const room = pick(settled(k.rooms))?.id ?? k.rooms[0]!.id;
    let res: { status: number; json: Json | null };
    if (r < 0.3) res = await call(tenant, 'GET', `/api/rooms/${room}`);
    else if (r < 0.45) res = await call(tenant, 'GET', '/api/rooms?limit=20');
    else if (r < 0.6) res = await call(tenant, 'GET', `/api/rooms/${room}/messages?limit=20`);
    else if (r < 0.7) res = await call(tenant, 'GET', `/api/rooms/${room}/members`);
    else if (r < 0.85) res = await call(tenant, 'GET', `/api/messages/${pick(settled(k.messages))?.id ?? 1}`);
    else if (r < 0.98) {
      res = await call(tenant, 'POST', `/api/rooms/${room}/messages`, { author_id: pick(k.users), body: `demo message ${sent}`, ...(sent % 5 === 0 ? { amount: `${sent}.50`, currency: 'EUR' } : {}) });
      if (res.status === 201 && res.json?.id !== undefined) k.messages.push({ id: res.json.id, at: Date.now() });
    } else {
      res = await call(tenant, 'POST', '/api/rooms', { name: `${tenant} room ${sent}`, created_by: pick(k.users), tags: ['demo'] });
      if (res.status === 201 && res.json?.id !== undefined) k.rooms.push({ id: res.json.id, at: Date.now() });
    }
    sent++;
    if (res.status >= 500) failed++;
  };

  const started = Date.now();
  let nextReport = started + 5_000;
  const gap = 1000 / o.rate;
  for (let n = 0; Date.now() - started < o.seconds * 1000 && !o.signal?.aborted; n++) {
    await one().catch(() => void failed++);
    if (Date.now() >= nextReport) {
      nextReport += 5_000;
      const parity = await admin<{ data: ParityStats[] }>('/parity?windowMs=60000').catch(() => null);
      const routes = await admin<{ data: Array<{ id: string; summary: string }> }>('/routes').catch(() => null);
      const figures = (parity?.data ?? []).map((x) => `${x.route}[${x.tenant}] ${x.samples} compared, ${x.mismatches} mismatched, ${x.noiseFiltered} filtered by learned noise`).join('; ') || 'no shadow traffic yet';
      const modes = (routes?.data ?? []).filter((r) => /shadow|extracted|canary/.test(r.summary)).map((r) => `${r.id}: ${r.summary}`).join('; ');
      o.log(`[${Math.round((Date.now() - started) / 1000)} s] ${sent} requests (${failed} failed) | parity: ${figures} | ${modes || 'every route on the monolith'}`);
    }
    const wait = started + (n + 1) * gap - Date.now();
    if (wait > 0) await sleep(wait);
  }
  const history = await admin<{ data: RouteChange[] }>('/routes/room-get/history?limit=10').catch(() => null);
  for (const c of (history?.data ?? []).filter((x) => x.source === 'gate').reverse()) o.log(`gate: ${c.routeId} [${c.scope}] ${JSON.stringify(c.previous)} -> ${JSON.stringify(c.next)}: ${c.reason}`);

  const config = loadConfigFile(o.configFile);
  const capture = config.config.capture.file;
  if (!capture) {
    o.log('capture is off in the proxy config: no corpus to replay');
    return { passed: failed === 0 };
  }
  const corpusFile = new URL(capture, `file://${o.configFile}`).pathname;
  if (!fs.existsSync(corpusFile)) {
    o.log(`no corpus captured yet at ${corpusFile}`);
    return { passed: false };
  }
  // The replay asks the monolith and the service now: the last writes must have reached the service, or it measures replication lag.
  const lastWrite = Math.max(0, ...[...known.values()].flatMap((k) => [...k.rooms, ...k.messages].map((x) => x.at)));
  if (Date.now() - lastWrite < SETTLED_MS) await sleep(lastWrite + SETTLED_MS - Date.now());
  let passed = true;
  const entries = readCorpus(corpusFile);
  for (const tenant of o.tenants) {
    const report = await runParity({ config, tenant, entries });
    const files = writeReports(report, `${o.reportDir}/${tenant}`);
    o.log(`\nstrangler parity run --corpus ${corpusFile} --tenant ${tenant}\n${formatParity(report)}\nreports: ${files.html}`);
    passed &&= report.passed || report.routes.length === 0;
  }
  return { passed: passed && failed === 0 };
}
