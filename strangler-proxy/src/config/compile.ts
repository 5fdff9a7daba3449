import crypto from 'node:crypto';
import fs from 'node:fs';
import YAML from 'yaml';
import { ConfigError, type ConfigIssue, zodIssues } from '@strangler/common';
import { buildTable, compileRoute, type CompiledRoute, type RouteTable } from '../routes/table';
import { covers, parseTemplate } from '../routes/path-template';
import { addressMatcher, cidrProblem } from '../tenancy/cidr';
import { type JwtKey, jwtKeyObject } from '../tenancy/jwt';
import { ProxyConfigSchema, type ProxyConfig, type ServiceConfig } from './schema';
import { compilePath, JsonPathError } from '../parity/json-path';
import { readSecret, type SecretRef } from './secrets';
import type { DomainSpec } from '@strangler/ownership';

export interface CompiledTenant {
  readonly name: string;
  readonly monolith: string;
  readonly hosts: readonly string[];
  /** The monolith database's URL (tenants.<t>.database), for noise learning's change check; null without one. */
  readonly database: string | null;
}

export interface CompiledService extends Omit<ServiceConfig, 'database'> {
  readonly name: string;
  /** The service's database URL (services.<s>.database), for hand-overs; null without one. */
  readonly database: string | null;
}

export interface AdminToken {
  readonly name: string;
  readonly role: 'read' | 'write';
  /** sha256 of the token: compared in constant time, and the token itself is not kept. */
  readonly digest: Buffer;
}

/** A whole validated config, compiled for the hot path and frozen. */
export interface CompiledConfig {
  readonly source: string;
  readonly config: ProxyConfig;
  readonly table: RouteTable;
  readonly tenants: ReadonlyMap<string, CompiledTenant>;
  readonly hostToTenant: ReadonlyMap<string, string>;
  readonly services: ReadonlyMap<string, CompiledService>;
  /** Domains by name, and the domain each of their routes belongs to. */
  readonly domains: ReadonlyMap<string, DomainSpec>;
  readonly domainOfRoute: ReadonlyMap<string, DomainSpec>;
  readonly tenancy: {
    readonly byHost: boolean;
    readonly header: { readonly name: string; readonly trusted: (addr: string | undefined) => boolean } | null;
    readonly jwt: { readonly claim: string; readonly keys: readonly JwtKey[]; readonly issuer?: string; readonly audience?: string; readonly leewaySeconds: number } | null;
  };
  readonly trustedProxy: (addr: string | undefined) => boolean;
  readonly adminTokens: readonly AdminToken[];
  readonly controlStoreUrl: string;
}

/** Reads, parses, validates and compiles a YAML config file. Throws ConfigError with every issue. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): CompiledConfig {
  return compileConfigText(readConfigText(file), file, env);
}

/** The config file's text, or a ConfigError saying why it cannot be read. */
export function readConfigText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', value: file, message: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
}

export function compileConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): CompiledConfig {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: e.linePos ? `(line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '(yaml)', value: undefined, message: `YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}` })),
    );
  }
  return compileConfig(doc.toJS() ?? {}, source, env);
}

export function compileConfig(input: unknown, source: string, env: NodeJS.ProcessEnv = process.env): CompiledConfig {
  const parsed = ProxyConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(source, zodIssues(parsed.error, input));
  const config = parsed.data;
  const issues: ConfigIssue[] = [];
  const issue = (path: string, value: unknown, message: string) => issues.push({ path, value, message });

  const secret = (ref: SecretRef, path: string): string | null => {
    const r = readSecret(ref, env);
    if ('value' in r) return r.value;
    issue(`${path}.${r.at}`, r.at === 'env' ? ref.env : ref.file, r.problem);
    return null;
  };

  // Tenants and their hosts.
  const tenants = new Map<string, CompiledTenant>();
  const hostToTenant = new Map<string, string>();
  for (const [name, t] of Object.entries(config.tenants)) {
    const database = t.database ? secret(t.database, `tenants.${name}.database`) : null;
    if (database !== null && !/^postgres(?:ql)?:\/\//.test(database)) issue(`tenants.${name}.database`, '(secret)', 'must be a PostgreSQL URL such as postgresql://user@host:5432/db');
    tenants.set(name, Object.freeze({ name, monolith: t.monolith.replace(/\/$/, ''), hosts: Object.freeze([...t.hosts]), database }));
    t.hosts.forEach((h, i) => {
      const other = hostToTenant.get(h);
      if (other !== undefined) issue(`tenants.${name}.hosts.${i}`, h, `is already tenant ${other}'s host`);
      else hostToTenant.set(h, name);
    });
  }

  const services = new Map<string, CompiledService>();
  for (const [name, s] of Object.entries(config.services)) {
    const database = s.database ? secret(s.database, `services.${name}.database`) : null;
    if (database !== null && !/^postgres(?:ql)?:\/\//.test(database)) issue(`services.${name}.database`, '(secret)', 'must be a PostgreSQL URL such as postgresql://user@host:5432/db');
    services.set(name, Object.freeze({ ...s, url: s.url.replace(/\/$/, ''), name, database }));
  }

  // Routes: templates, references, duplicates, reachability.
  const compiled: CompiledRoute[] = [];
  const seen = new Map<string, number>();
  config.routes.forEach((r, i) => {
    const at = `routes.${i}`;
    const first = seen.get(r.id);
    if (first !== undefined) issue(`${at}.id`, r.id, `duplicates routes.${first}.id`);
    else seen.set(r.id, i);
    const template = parseTemplate(r.match.path);
    if (typeof template === 'string') {
      issue(`${at}.match.path`, r.match.path, template);
      return;
    }
    const needsService = r.mode !== 'monolith' || Object.values(r.tenants).some((m) => m.mode !== 'monolith');
    if (r.service === undefined && needsService) issue(`${at}.service`, undefined, 'is required: a mode other than monolith needs an extracted service');
    const service = r.service === undefined ? undefined : services.get(r.service);
    if (r.service !== undefined && !service) issue(`${at}.service`, r.service, `is not a service declared under services (known: ${[...services.keys()].join(', ') || 'none'})`);
    if (r.mode === 'canary' && r.percent === undefined) issue(`${at}.percent`, undefined, 'is required when mode is canary');
    if (r.mode !== 'canary' && r.percent !== undefined) issue(`${at}.percent`, r.percent, 'only applies to mode canary');
    for (const t of Object.keys(r.tenants)) {
      if (!tenants.has(t)) issue(`${at}.tenants.${t}`, t, `is not a tenant declared under tenants (known: ${[...tenants.keys()].join(', ')})`);
    }
    if (r.canary.stickyBy === 'header' && !r.canary.header) issue(`${at}.canary.header`, undefined, 'is required when stickyBy is header');
    if (r.shadow.mirrorWrites && service && !service.dryRunHeader) {
      issue(`${at}.shadow.mirrorWrites`, true, `needs services.${r.service}.dryRunHeader: writes are only mirrored to a service that rolls them back`);
    }
    let bad = false;
    const paths: Array<readonly [string, string]> = [...r.parity.ignore.map((p, j) => [`${at}.parity.ignore.${j}`, p] as const), ...Object.keys(r.parity.sets).map((p) => [`${at}.parity.sets`, p] as const)];
    for (const [where, p] of paths) {
      try {
        compilePath(p);
      } catch (err) {
        bad = true;
        issue(where, p, err instanceof JsonPathError ? err.message.replace(/^"[^"]*": /, '') : String(err));
      }
    }
    if (bad) return;
    const route = compileRoute(r, i, template);
    for (const earlier of compiled) {
      if (shadows(earlier, route)) {
        issue(`${at}.match`, r.match, `is never reached: routes.${earlier.index} (${earlier.id}) matches every request this route would`);
        break;
      }
    }
    compiled.push(route);
  });

  // Domains: their service can take them, their routes exist and belong to that service and to no other domain.
  const domains = new Map<string, DomainSpec>();
  const domainOfRoute = new Map<string, DomainSpec>();
  const routeIds = new Map(config.routes.map((r) => [r.id, r]));
  for (const [name, d] of Object.entries(config.domains)) {
    const at = `domains.${name}`;
    const service = services.get(d.service);
    if (!service) issue(`${at}.service`, d.service, `is not a service declared under services (known: ${[...services.keys()].join(', ') || 'none'})`);
    else {
      if (service.database === null && !config.services[d.service]!.database) issue(`services.${d.service}.database`, undefined, `is required: domain ${name} hands its writes to this service, whose database records who owns them`);
      if (!service.freshness) issue(`services.${d.service}.freshness`, undefined, `is required: a hand-over of domain ${name} waits for the service's report (appliedLsn) to pass the monolith's fence`);
    }
    const spec: DomainSpec = Object.freeze({
      name,
      service: d.service,
      tables: Object.freeze(d.tables.map((t) => (t.includes('.') ? t : `public.${t}`))),
      routes: Object.freeze([...d.routes]),
      fence: d.fence,
      hold: Object.freeze({ ...d.hold }),
      timeouts: Object.freeze({ ...d.timeouts }),
      parityMinSamples: d.parity.minSamples,
    });
    d.routes.forEach((id, i) => {
      const r = routeIds.get(id);
      if (!r) issue(`${at}.routes.${i}`, id, `is not a route id (known: ${[...routeIds.keys()].join(', ') || 'none'})`);
      else if (r.service !== d.service) issue(`${at}.routes.${i}`, id, `names service ${r.service ?? '(none)'}: a domain's routes must name its service, ${d.service}`);
      const other = domainOfRoute.get(id);
      if (other) issue(`${at}.routes.${i}`, id, `already belongs to domain ${other.name}`);
      else domainOfRoute.set(id, spec);
    });
    domains.set(name, spec);
  }

  // Tenancy.
  const headerCfg = config.tenancy.header;
  headerCfg?.trustedHops.forEach((c, i) => {
    const p = cidrProblem(c);
    if (p) issue(`tenancy.header.trustedHops.${i}`, c, p);
  });
  config.forwarding.trustedProxies.forEach((c, i) => {
    const p = cidrProblem(c);
    if (p) issue(`forwarding.trustedProxies.${i}`, c, p);
  });
  const jwtKeys: JwtKey[] = [];
  config.tenancy.jwt?.keys.forEach((k, i) => {
    const material = secret(k.key, `tenancy.jwt.keys.${i}.key`);
    if (material === null) return;
    const key = jwtKeyObject(k.alg, material);
    if (typeof key === 'string') issue(`tenancy.jwt.keys.${i}.key`, '(secret)', key);
    else jwtKeys.push(Object.freeze({ kid: k.kid ?? null, alg: k.alg, key }));
  });
  if (!config.tenancy.byHost && !headerCfg && !config.tenancy.jwt) issue('tenancy', config.tenancy, 'resolves no tenant: enable byHost, header or jwt');

  const adminTokens: AdminToken[] = [];
  config.admin.tokens.forEach((t, i) => {
    const value = secret(t.token, `admin.tokens.${i}.token`);
    if (value !== null && value.length < 16) issue(`admin.tokens.${i}.token`, '(secret)', 'is too short: use at least 16 characters');
    else if (value !== null) adminTokens.push(Object.freeze({ name: t.name, role: t.role, digest: crypto.createHash('sha256').update(value).digest() }));
  });
  const controlStoreUrl = secret(config.controlStore.url, 'controlStore.url');

  if (issues.length > 0) throw new ConfigError(source, issues);

  return Object.freeze({
    source,
    config: deepFreeze(config),
    table: buildTable(compiled),
    tenants,
    hostToTenant,
    services,
    domains,
    domainOfRoute,
    tenancy: Object.freeze({
      byHost: config.tenancy.byHost,
      header: headerCfg ? Object.freeze({ name: headerCfg.name, trusted: addressMatcher(headerCfg.trustedHops) }) : null,
      jwt: config.tenancy.jwt
        ? Object.freeze({
            claim: config.tenancy.jwt.claim,
            keys: Object.freeze(jwtKeys),
            ...(config.tenancy.jwt.issuer !== undefined ? { issuer: config.tenancy.jwt.issuer } : {}),
            ...(config.tenancy.jwt.audience !== undefined ? { audience: config.tenancy.jwt.audience } : {}),
            leewaySeconds: config.tenancy.jwt.leewaySeconds,
          })
        : null,
    }),
    trustedProxy: addressMatcher(config.forwarding.trustedProxies),
    adminTokens: Object.freeze(adminTokens),
    controlStoreUrl: controlStoreUrl!,
  });
}

/** True when `a` (earlier) matches every request `b` would. */
function shadows(a: CompiledRoute, b: CompiledRoute): boolean {
  if (a.methods !== null && (b.methods === null || [...b.methods].some((m) => !a.methods!.has(m)))) return false;
  if (a.host !== null && a.host !== b.host) return false;
  if (a.header !== null && (b.header === null || a.header.name !== b.header.name || a.header.value !== b.header.value)) return false;
  return covers(a.template, b.template);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
