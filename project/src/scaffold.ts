import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { readTableSpec } from '@strangler/cdc';
import { UsageError } from '@strangler/common';
import { ProjectError } from './errors';
import { loadProject } from './load';
import { copyName } from './mirror';
import { copyRoute, rowPath, sampleKeys, type CopyRoute } from './service-kit';
import { serviceFiles } from './scaffold-files';

export interface ScaffoldOptions {
  /** The service's name (a-z, 0-9, _ and -). */
  readonly name: string;
  /** Captured tables (`schema.table`) it mirrors and serves. */
  readonly tables: readonly string[];
  readonly projectFile: string;
  /** The service's own database (its copies); written into the project file. */
  readonly databaseUrl: string;
  /** The folder the service's folder goes into. @default extracted (beside the project file) */
  readonly dir?: string;
  /** Its port. @default a free one from 3100 */
  readonly port?: number;
  /** Put in front of each route's path: `/api` gives `/api/orders/:id`. */
  readonly prefix?: string;
}

export interface ScaffoldResult {
  readonly dir: string;
  readonly files: readonly string[];
  readonly url: string;
  readonly routes: readonly CopyRoute[];
  /** Where the service's database URL has to be exported (it holds a password, so the file names a variable). */
  readonly env: Readonly<Record<string, string>>;
  /** The monolith's answer to each route on its first key, asked at once: a route it does not serve will not pass the parity test. */
  readonly probes: ReadonlyArray<{ readonly path: string; readonly status: number | null; readonly note: string }>;
}

const NAME = /^[a-z][a-z0-9_-]{0,40}$/;

/**
 * `strangler new service NAME --tables ...`: a TypeScript service beside the
 * project file that mirrors the tables into its own database, serves each
 * row from the copy on the monolith's path shape, answers /freshness for the
 * proxy, and carries a parity test (expectParity against each tenant's
 * monolith); the project file gains the service (run by `strangler up`) and
 * its routes, on the monolith until flipped.
 */
export async function scaffoldService(o: ScaffoldOptions): Promise<ScaffoldResult> {
  if (!NAME.test(o.name)) throw new UsageError(`service name ${JSON.stringify(o.name)}: must start with a-z and hold only a-z, 0-9, _ and - (at most 41 characters)`);
  const p = loadProject(o.projectFile);
  if (p.project.services[o.name]) throw new UsageError(`${o.projectFile} already declares services.${o.name}: pick another name, or remove it from the file first`);
  if (o.tables.length === 0) throw new UsageError('--tables lists no table: name the captured tables the service takes, such as public.orders');
  const captured = new Set(p.project.capture.tables);
  const missing = o.tables.filter((t) => !captured.has(t));
  if (missing.length > 0) throw new UsageError(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not captured: add ${missing.length === 1 ? 'it' : 'them'} to capture.tables in ${o.projectFile} (captured: ${[...captured].join(', ')})`);
  if (!/^postgres(?:ql)?:\/\/[^\s]+\/[^\s/]+$/.test(o.databaseUrl)) throw new UsageError(`--database-url ${JSON.stringify(o.databaseUrl)}: must be a PostgreSQL URL such as postgresql://user@127.0.0.1:5432/${o.name.replace(/-/g, '_')}`);
  const projectDir = path.dirname(p.file);
  const dir = path.resolve(projectDir, o.dir ?? 'extracted', o.name);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new UsageError(`${dir} exists and is not empty: pick another name or --dir`);

  // Each table's key, read as the mirror will read it (capture.keys where the file gives one).
  const schemaSource = p.databases[Object.keys(p.project.tenants)[0]!]!;
  const routes: CopyRoute[] = [];
  for (const t of o.tables) {
    const key = p.project.capture.keys[t];
    const spec = await readTableSpec(schemaSource, t, copyName(t), key ? { key } : {}).catch((err: Error & { code?: string }) => {
      if (err.code === 'STR_ERR_CDC_TABLE_UNSUITABLE') throw new UsageError(`${t} has no key a service can serve a row by: ${err.message} (name its columns in ${o.projectFile} under capture.keys.${t})`);
      throw err;
    });
    routes.push(copyRoute(t, spec.target, spec.key, o.prefix));
  }
  const port = o.port ?? (await freePortFrom(3100));
  const url = `http://127.0.0.1:${port}`;
  const secretInUrl = new URL(o.databaseUrl).password !== '';
  const envName = `${o.name.toUpperCase().replace(/-/g, '_')}_DATABASE_URL`;

  const files = serviceFiles({ name: o.name, routes, projectFile: path.relative(dir, p.file), projectName: p.project.name });
  fs.mkdirSync(dir, { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  addToProjectFile(p.file, p.project.proxy.routesFile ? path.resolve(projectDir, p.project.proxy.routesFile) : null, {
    name: o.name,
    service: {
      url,
      database: secretInUrl ? { env: envName } : { value: o.databaseUrl },
      mirrors: [...o.tables],
      command: `npx tsx ${path.relative(projectDir, path.join(dir, 'src', 'main.ts'))}`,
    },
    routes: routes.map((r) => ({ id: `${o.name}-${r.copy.replace(/_/g, '-')}`, match: { method: 'GET', path: r.path }, service: o.name, mode: 'monolith' })),
  });
  // The file must still load: what was written is checked by the same rules as any edit.
  loadProject(p.file, secretInUrl ? { ...process.env, [envName]: o.databaseUrl } : process.env);
  const probes = await probeMonolith(p.project.tenants[Object.keys(p.project.tenants)[0]!]!.monolith, schemaSource, routes);
  return { dir, files: Object.keys(files), url, routes, env: secretInUrl ? { [envName]: o.databaseUrl } : {}, probes };
}

interface ProjectEdit {
  readonly name: string;
  readonly service: Record<string, unknown>;
  readonly routes: ReadonlyArray<Record<string, unknown>>;
}

/** Adds the service and its routes (in front: first match wins), keeping the file's comments and order. */
function addToProjectFile(file: string, routesFile: string | null, edit: ProjectEdit): void {
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
  if (!doc.has('services') || doc.get('services') === null) doc.set('services', doc.createNode({}));
  doc.setIn(['services', edit.name], doc.createNode(edit.service));
  if (routesFile === null) {
    const routes = doc.getIn(['proxy', 'routes'], true);
    if (YAML.isSeq(routes)) {
      routes.flow = false;
      routes.items.unshift(...edit.routes.map((r) => doc.createNode(r)));
    } else doc.setIn(['proxy', 'routes'], doc.createNode(edit.routes));
    fs.writeFileSync(file, doc.toString({ lineWidth: 0 }));
    return;
  }
  fs.writeFileSync(file, doc.toString({ lineWidth: 0 }));
  const rdoc = YAML.parseDocument(fs.readFileSync(routesFile, 'utf8'));
  const list = YAML.isSeq(rdoc.contents) ? rdoc.contents : rdoc.get('routes', true);
  if (!YAML.isSeq(list)) throw new UsageError(`${routesFile} holds no list of routes: add the service's routes by hand (${edit.routes.map((r) => (r.match as { path: string }).path).join(', ')})`);
  list.items.unshift(...edit.routes.map((r) => rdoc.createNode(r)));
  fs.writeFileSync(routesFile, rdoc.toString({ lineWidth: 0 }));
}

/** Asks the monolith each route on its first row: a 404 there means the parity test cannot pass until the path matches the monolith's. */
async function probeMonolith(monolith: string, databaseUrl: string, routes: readonly CopyRoute[]): Promise<ScaffoldResult['probes']> {
  const out: Array<{ path: string; status: number | null; note: string }> = [];
  for (const r of routes) {
    // Only a hint: the service is written by now, so a probe that cannot run says so and goes on.
    const keys = await sampleKeys(databaseUrl, r, 1).catch((err: Error) => err);
    if (keys instanceof Error) {
      out.push({ path: r.path, status: null, note: `not asked: the first row of ${r.source} could not be read (${keys.message})` });
      continue;
    }
    const [key] = keys;
    if (!key) {
      out.push({ path: r.path, status: null, note: `${r.source} is empty: the parity test checks only that both sides find no row` });
      continue;
    }
    const at = rowPath(r, key);
    try {
      const res = await fetch(`${monolith.replace(/\/$/, '')}${at}`, { signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      const type = res.headers.get('content-type') ?? '';
      out.push({
        path: at,
        status: res.status,
        note: res.status === 200 && type.includes('json') ? 'the monolith answers it with JSON' : `the monolith answers ${res.status}${type ? ` (${type.split(';')[0]})` : ''}: until src/routes.ts and the routes in the project file name the monolith's own path (or the handler answers its shape), the parity test fails and says where`,
      });
    } catch (err) {
      out.push({ path: at, status: null, note: `the monolith did not answer (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message})` });
    }
  }
  return out;
}

async function freePortFrom(start: number): Promise<number> {
  for (let port = start; port < start + 200; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new ProjectError('STR_ERR_PROJECT_PORT_TAKEN', `no free port from ${start} to ${start + 199}: pass --port`);
}
