import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '@strangler/common';
import { parseProject, proxyConfigOf } from './load';
import { projectJsonSchema, PROJECT_SCHEMA_FILE } from './json-schema';

const base = {
  version: 1,
  name: 'bank-chat',
  tenants: { acme: { monolith: 'http://127.0.0.1:3000', database: { value: 'postgresql://app@127.0.0.1:5432/acme' } } },
  capture: { tables: ['public.accounts', 'public.audit_log'] },
};
const issuesOf = (doc: unknown, env: NodeJS.ProcessEnv = {}): Array<{ path: string; value: unknown; message: string }> => {
  try {
    parseProject(YAML.stringify(doc), 'strangler.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => ({ path: i.path, value: i.value, message: i.message }));
    throw err;
  }
  return [];
};

describe('project file', () => {
  it('accepts a minimal file and fills in the defaults', () => {
    const p = parseProject(YAML.stringify(base), 'strangler.yaml', {});
    expect(p.project.proxy.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(p.databases).toEqual({ acme: 'postgresql://app@127.0.0.1:5432/acme' });
    expect(p.routes).toEqual([]);
    const proxy = proxyConfigOf(p, { controlStoreUrl: 'postgresql://x@127.0.0.1/ctl', adminToken: 'a-long-enough-token' });
    expect(proxy.tenants).toEqual({ acme: { monolith: 'http://127.0.0.1:3000', hosts: ['acme.localhost'], database: { value: 'postgresql://app@127.0.0.1:5432/acme' } } });
  });

  it('names every mistake with its path and value', () => {
    const issues = issuesOf({
      version: 2,
      name: 'Bank Chat',
      tenants: { Acme: { monolith: 'localhost:3000', database: 'postgresql://app@127.0.0.1/acme' } },
      capture: { tables: ['accounts'], keys: { 'public.ghost': ['id'] } },
      services: { ledger: { url: 'http://127.0.0.1:4000', mirrors: ['public.accounts'] } },
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'version', value: 2, message: 'must be 1 (the only version of the project file so far)' },
        { path: 'name', value: 'Bank Chat', message: 'must start with a-z and hold only a-z, 0-9, _ and -' },
        expect.objectContaining({ path: 'tenants.Acme', value: expect.anything() }),
        { path: 'capture.tables.0', value: 'accounts', message: 'must be schema.table, such as public.accounts' },
      ]),
    );
    // A plain string where a secret goes says what a secret may be.
    const secretIssues = issuesOf({ ...base, tenants: { acme: { monolith: 'http://127.0.0.1:3000', database: 'postgresql://app@127.0.0.1/acme' } } });
    expect(secretIssues).toEqual([
      { path: 'tenants.acme.database', value: 'postgresql://app@127.0.0.1/acme', message: expect.stringMatching(/^a secret is an object: \{ env: VARIABLE \} .*\{ value: "\.\.\." \}.*; got a string$/) },
    ]);
  });

  it('checks what spans sections: mirrors of uncaptured tables, keys of unknown tables, a service without a database, an unset variable', () => {
    expect(
      issuesOf({
        ...base,
        tenants: { acme: { monolith: 'http://127.0.0.1:3000', database: { env: 'ACME_DB' } } },
        capture: { tables: ['public.accounts'], keys: { 'public.ghost': ['id'] } },
        services: { ledger: { url: 'http://127.0.0.1:4000', mirrors: ['public.accounts', 'public.payments'] } },
      }),
    ).toEqual([
      { path: 'tenants.acme.database.env', value: 'ACME_DB', message: 'environment variable ACME_DB is not set' },
      { path: 'services.ledger.mirrors.1', value: 'public.payments', message: 'is not captured: add it to capture.tables (captured: public.accounts)' },
      { path: 'services.ledger.database', value: undefined, message: "is required: the mirror keeps its copies in the service's database" },
      { path: 'capture.keys.public.ghost', value: 'public.ghost', message: 'names a table that is not captured (capture.tables)' },
    ]);
  });

  it("checks routes by the proxy's own rules, from the file or a routes file beside it", () => {
    const routes = [{ id: 'accounts', match: { method: 'GET', path: '/api/accounts/:id' }, service: 'ledger', mode: 'shadow' }];
    expect(issuesOf({ ...base, proxy: { routes } })).toEqual([expect.objectContaining({ path: 'proxy.routes.0.service', value: 'ledger' })]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'project-'));
    try {
      fs.writeFileSync(path.join(dir, 'routes.yaml'), YAML.stringify({ routes: [{ id: 'accounts', match: { method: 'GET', path: '/api/accounts/:id' } }] }));
      const file = path.join(dir, 'strangler.yaml');
      const p = parseProject(YAML.stringify({ ...base, proxy: { routesFile: 'routes.yaml' } }), file, {});
      expect(p.routes).toHaveLength(1);
      expect(() => parseProject(YAML.stringify({ ...base, proxy: { routesFile: 'missing.yaml' } }), file, {})).toThrow(/proxy\.routesFile: cannot be read .*ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("carries the proxy's other settings, checked by the proxy's rules; the sections the file sets itself are refused there", () => {
    const doc = {
      ...base,
      services: { ledger: { url: 'http://127.0.0.1:4000', proxy: { health: '/healthz', freshness: { path: '/freshness', maxBehindMs: 5000 } } } },
      proxy: { settings: { readYourWrites: {}, log: { level: 'warn', access: false } } },
    };
    const p = parseProject(YAML.stringify(doc), 'strangler.yaml', {});
    const proxy = proxyConfigOf(p, { controlStoreUrl: 'postgresql://x@127.0.0.1/ctl', adminToken: 'a-long-enough-token' });
    expect(proxy.services).toEqual({ ledger: { url: 'http://127.0.0.1:4000', health: '/healthz', freshness: { path: '/freshness', maxBehindMs: 5000 } } });
    expect(proxy).toMatchObject({ readYourWrites: {}, log: { level: 'warn', access: false }, tenancy: { byHost: true } });
    expect(issuesOf({ ...doc, proxy: { settings: { tenants: {} } } })).toEqual([
      { path: 'proxy.settings', value: { tenants: {} }, message: expect.stringContaining('may not set listen, admin, controlStore, tenants, services, routes: the project file sets those itself') },
    ]);
    expect(issuesOf({ ...doc, proxy: { settings: { log: { level: 'loud' } } } })).toEqual([expect.objectContaining({ path: 'proxy.settings.log.level', value: 'loud' })]);
    expect(issuesOf({ ...doc, services: { ledger: { url: 'http://127.0.0.1:4000', proxy: { health: 7 } } } })).toEqual([expect.objectContaining({ path: 'services.ledger.proxy.health', value: 7 })]);
    // A service's domain: named after it, its service set; its mistakes at its own path.
    const owned = { ...doc, services: { ledger: { ...doc.services.ledger, database: { value: 'postgresql://app@127.0.0.1:5432/ledger' }, domain: { tables: ['accounts'], routes: ['account-get'], fence: 'detect' } } }, proxy: { routes: [{ id: 'account-get', match: { method: 'GET', path: '/accounts/:id' }, service: 'ledger', mode: 'monolith' }] } };
    expect(proxyConfigOf(parseProject(YAML.stringify(owned), 'strangler.yaml', {}), { controlStoreUrl: 'postgresql://x@127.0.0.1/ctl', adminToken: 'a-long-enough-token' }).domains).toEqual({ ledger: { service: 'ledger', tables: ['accounts'], routes: ['account-get'], fence: 'detect' } });
    expect(issuesOf({ ...owned, services: { ledger: { ...owned.services.ledger, domain: { tables: ['accounts'], routes: ['account-get'], fence: 'sometimes' } } } })).toEqual([expect.objectContaining({ path: 'services.ledger.domain.fence', value: 'sometimes' })]);
  });

  it('says where YAML itself is broken', () => {
    expect(() => parseProject('version: 1\n  name: [x', 'strangler.yaml', {})).toThrow(/\(line \d+\): not valid YAML/);
  });

  it('publishes the JSON Schema generated from the zod schema', () => {
    const published = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', PROJECT_SCHEMA_FILE), 'utf8'));
    expect(published).toEqual(JSON.parse(JSON.stringify(projectJsonSchema())));
  });
});
