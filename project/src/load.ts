import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, type ConfigIssue, zodIssues } from '@strangler/common';
import { compileConfig, readSecret, type ProxyConfigInput, type SecretRef } from '@strangler/proxy';
import { ProjectSchema, type Project } from './schema';

/** A project file read, validated and its secrets resolved. */
export interface LoadedProject {
  readonly file: string;
  readonly project: Project;
  /** Each tenant's monolith database URL. */
  readonly databases: Readonly<Record<string, string>>;
  /** Each service's database URL, where it declares one. */
  readonly serviceDatabases: Readonly<Record<string, string>>;
  /** The proxy's routes, from the file or its routesFile (validated by the proxy's own rules). */
  readonly routes: readonly unknown[];
  /** infrastructure.postgres's URL: the server for the toolkit's own databases; null to start one. */
  readonly toolkitPostgres: string | null;
}

/** Reads and checks a project file: every problem at once, each with its path and value (ConfigError). */
export function loadProject(file: string, env: NodeJS.ProcessEnv = process.env): LoadedProject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', value: file, message: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}${(err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (strangler init writes one from a running app and its database)' : ''}` }]);
  }
  return parseProject(text, file, env);
}

export function parseProject(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedProject {
  const input = yamlOf(text, file);
  const parsed = ProjectSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(file, zodIssues(parsed.error, input));
  const project = parsed.data;
  const issues: ConfigIssue[] = [];
  const issue = (p: string, value: unknown, message: string) => issues.push({ path: p, value, message });
  const secret = (ref: SecretRef, at: string): string | null => {
    const r = readSecret(ref, env);
    if ('value' in r) {
      if (!/^postgres(?:ql)?:\/\//.test(r.value)) issue(at, '(secret)', 'must be a PostgreSQL URL such as postgresql://user@host:5432/db');
      return r.value;
    }
    issue(`${at}.${r.at}`, r.at === 'env' ? ref.env : ref.file, r.problem);
    return null;
  };
  const databases: Record<string, string> = {};
  for (const [name, t] of Object.entries(project.tenants)) {
    const url = secret(t.database, `tenants.${name}.database`);
    if (url !== null) databases[name] = url;
  }
  const serviceDatabases: Record<string, string> = {};
  const captured = new Set(project.capture.tables);
  for (const [name, s] of Object.entries(project.services)) {
    if (s.database) {
      const url = secret(s.database, `services.${name}.database`);
      if (url !== null) serviceDatabases[name] = url;
    }
    s.mirrors.forEach((t, i) => {
      if (!captured.has(t)) issue(`services.${name}.mirrors.${i}`, t, `is not captured: add it to capture.tables (captured: ${[...captured].join(', ')})`);
    });
    if (s.mirrors.length > 0 && !s.database) issue(`services.${name}.database`, undefined, 'is required: the mirror keeps its copies in the service\'s database');
  }
  for (const t of Object.keys(project.capture.keys)) {
    if (!captured.has(t)) issue(`capture.keys.${t}`, t, 'names a table that is not captured (capture.tables)');
  }
  const toolkitPostgres = project.infrastructure.postgres ? secret(project.infrastructure.postgres.url, 'infrastructure.postgres.url') : null;
  const routes = routesOf(project, file, issue);
  if (issues.length > 0) throw new ConfigError(file, issues);
  const loaded = { file: path.resolve(file), project, databases, serviceDatabases, routes, toolkitPostgres };
  // The routes, tenants and services as the proxy will run them: its own rules, its own messages.
  try {
    compileConfig(proxyConfigOf(loaded, { controlStoreUrl: 'postgresql://check@127.0.0.1:5432/check', adminToken: 'a-token-only-used-to-check-the-file' }), file, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(file, err.issues.map((i) => ({ ...i, path: projectPath(project, i.path) })));
  }
  return loaded;
}

/** The proxy's domains: proxy.settings.domains, and each service's own (services.<s>.domain, named after it unless it says). */
function domains(project: Project): ProxyConfigInput['domains'] | undefined {
  const own = Object.entries(project.services).filter(([, s]) => s.domain !== undefined);
  const set = project.proxy.settings?.domains as ProxyConfigInput['domains'] | undefined;
  if (own.length === 0) return set;
  return { ...set, ...Object.fromEntries(own.map(([service, s]) => { const { name, ...rest } = s.domain!; return [name ?? service, { ...rest, service }]; })) } as ProxyConfigInput['domains'];
}

/** Where in the project file a path of the proxy's config comes from. */
function projectPath(project: Project, at: string): string {
  const [head = '', second = '', third = ''] = at.split('.');
  if (head === 'routes') return `proxy.${at}`;
  if (head === 'domains') {
    const owner = Object.entries(project.services).find(([service, s]) => s.domain !== undefined && (s.domain.name ?? service) === second);
    if (owner) return `services.${owner[0]}.domain${at.split('.').slice(2).map((x) => `.${x}`).join('')}`;
  }
  if (project.proxy.settings && head in project.proxy.settings) return `proxy.settings.${at}`;
  if (head === 'services' && project.services[second]?.proxy && third in project.services[second]!.proxy!) return `services.${second}.proxy.${at.split('.').slice(2).join('.')}`;
  return at;
}

function yamlOf(text: string, file: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => ({ path: `(line ${e.linePos?.[0]?.line ?? '?'})`, value: undefined, message: `not valid YAML: ${e.message.split('\n')[0]}` })));
  }
  return doc.toJS() ?? {};
}

/** The routes from the file itself or its routesFile (relative to the project file). */
function routesOf(project: Project, file: string, issue: (p: string, value: unknown, message: string) => void): unknown[] {
  if (project.proxy.routes) return project.proxy.routes;
  if (!project.proxy.routesFile) return [];
  const at = path.resolve(path.dirname(file), project.proxy.routesFile);
  let text: string;
  try {
    text = fs.readFileSync(at, 'utf8');
  } catch (err) {
    issue('proxy.routesFile', project.proxy.routesFile, `cannot be read (${at}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return [];
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    issue('proxy.routesFile', project.proxy.routesFile, `is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    return [];
  }
  const list = Array.isArray(doc) ? doc : (doc as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(list)) {
    issue('proxy.routesFile', project.proxy.routesFile, 'must hold a list of routes, or { routes: [...] }');
    return [];
  }
  return list;
}

export interface ProxyRunSettings {
  readonly controlStoreUrl: string;
  readonly adminToken: string;
  /** Overrides of the file's listen and admin ports (tests, `up` on free ports). */
  readonly port?: number;
  readonly adminPort?: number;
}

/** The proxy's config for a project: its tenants by host, its services, its routes. */
export function proxyConfigOf(p: LoadedProject, run: ProxyRunSettings): ProxyConfigInput {
  const { project } = p;
  return {
    ...(project.proxy.settings as Partial<ProxyConfigInput> | undefined),
    listen: { host: project.proxy.listen.host, port: run.port ?? project.proxy.listen.port },
    admin: { host: project.proxy.admin.host, port: run.adminPort ?? project.proxy.admin.port, tokens: [{ name: 'project', role: 'write', token: { value: run.adminToken } }] },
    controlStore: { url: { value: run.controlStoreUrl } },
    tenancy: (project.proxy.settings?.tenancy as ProxyConfigInput['tenancy'] | undefined) ?? { byHost: true },
    tenants: Object.fromEntries(
      Object.entries(project.tenants).map(([name, t]) => [name, { monolith: t.monolith, hosts: t.hosts ?? [`${name}.localhost`], ...(p.databases[name] ? { database: { value: p.databases[name]! } } : {}) }]),
    ),
    services: Object.fromEntries(Object.entries(project.services).map(([name, s]) => [name, { ...(s.proxy as object | undefined), url: s.url, ...(p.serviceDatabases[name] ? { database: { value: p.serviceDatabases[name]! } } : {}) }])) as ProxyConfigInput['services'],
    routes: p.routes as ProxyConfigInput['routes'],
    ...(domains(project) ? { domains: domains(project) } : {}),
  };
}
