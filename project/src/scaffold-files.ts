import type { CopyRoute } from './service-kit';

export interface ServiceTemplate {
  readonly name: string;
  readonly projectName: string;
  /** The project file, relative to the service's folder. */
  readonly projectFile: string;
  readonly routes: readonly CopyRoute[];
}

/**
 * The files of a new service, by path in its folder. Plain TypeScript a
 * team reads and changes: the toolkit's part is behind @strangler/project
 * (the mirror, the parity helpers) and @strangler/proxy (expectParity).
 */
export function serviceFiles(t: ServiceTemplate): Record<string, string> {
  const routes = JSON.stringify(t.routes, null, 2);
  return {
    'package.json': `${JSON.stringify(
      {
        name: t.name,
        version: '0.1.0',
        private: true,
        description: `${t.name}: a service extracted from ${t.projectName}'s monolith (made by strangler new service)`,
        main: 'src/main.ts',
        scripts: { start: 'tsx src/main.ts', test: 'jest', typecheck: 'tsc --noEmit' },
        dependencies: { '@strangler/project': '0.1.0', express: '^5.1.0', knex: '^3.1.0' },
        devDependencies: { '@strangler/proxy': '0.1.0', '@swc/jest': '^0.2.39', '@types/express': '^5.0.0', '@types/jest': '^30.0.0', jest: '^30.0.0', pg: '^8.16.0', tsx: '^4.20.0', typescript: '^5.8.0' },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify({ compilerOptions: { target: 'es2022', module: 'commonjs', moduleResolution: 'node', strict: true, noUncheckedIndexedAccess: true, esModuleInterop: true, skipLibCheck: true, types: ['node', 'jest'] }, include: ['src', 'test'] }, null, 2)}\n`,
    'jest.config.js': `/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testTimeout: 180000,
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: { '^.+\\\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }] },
};
`,
    'src/routes.ts': `import path from 'node:path';
import type { CopyRoute } from '@strangler/project';

/** This service's name in the project file (services.${t.name}). */
export const SERVICE = ${JSON.stringify(t.name)};

/** The project file, from this folder (STRANGLER_PROJECT overrides it). */
export function projectFile(): string {
  return process.env.STRANGLER_PROJECT ?? path.resolve(__dirname, '..', ${JSON.stringify(t.projectFile)});
}

/**
 * Each route the service serves from its copies: GET <path> answers the row
 * the path's key names. The same paths are in the project file's routes,
 * on the monolith until flipped (strangler routes set <id> extracted). If the
 * monolith serves these rows on other paths, change both.
 */
export const ROUTES: readonly CopyRoute[] = ${routes};
`,
    'src/app.ts': `import express, { type NextFunction, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import type { RunningMirror } from '@strangler/project';
import { ROUTES } from './routes';

/** The proxy names the tenant of every request it forwards in this header. */
export const TENANT_HEADER = 'x-strangler-tenant';

/** PostgreSQL's "this text is not a value of the key's type" (a key such as /orders/abc for a bigint). */
const BAD_VALUE = new Set(['22P02', '22007', '22008', '22003']);

/**
 * The service's HTTP API: each route of ROUTES from the copy (multi-tenant:
 * every query names the tenant), /freshness for the proxy's freshness and
 * read-your-writes, /healthz. Every error is JSON.
 */
export function createApp(db: Knex, mirror: Pick<RunningMirror, 'freshness'>, tenants: readonly string[]): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', async (_req, res) => {
    await db.raw('SELECT 1');
    res.json({ status: 'ok' });
  });
  app.get('/freshness', (_req, res) => {
    res.json(mirror.freshness());
  });
  for (const route of ROUTES) {
    app.get(route.path, async (req: Request, res: Response) => {
      const tenant = req.get(TENANT_HEADER);
      if (tenant === undefined || !tenants.includes(tenant)) {
        res.status(400).json({ error: { code: 'unknown_tenant', message: \`\${TENANT_HEADER} must name a tenant of the project (\${tenants.join(', ')}); got \${JSON.stringify(tenant ?? null)}\` } });
        return;
      }
      const where: Record<string, unknown> = { tenant };
      route.key.forEach((column, i) => {
        where[column] = req.params[route.params[i]!];
      });
      const row = (await db(route.copy).where(where).first()) as Record<string, unknown> | undefined;
      if (row === undefined) {
        res.status(404).json({ error: { code: 'not_found', message: \`no \${route.source} row with \${route.key.map((k) => \`\${k} \${String(where[k])}\`).join(', ')}\` } });
        return;
      }
      delete row.tenant;
      res.json(row);
    });
  }
  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'route_not_found', message: \`no route for \${req.method} \${req.path}\` } });
  });
  app.use((err: Error & { code?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.code !== undefined && BAD_VALUE.has(err.code)) {
      res.status(400).json({ error: { code: 'bad_key', message: err.message } });
      return;
    }
    res.status(503).json({ error: { code: 'unavailable', message: err.message } });
  });
  return app;
}
`,
    'src/main.ts': `import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadProject, startMirror, type RunningMirror } from '@strangler/project';
import { createApp } from './app';
import { projectFile, SERVICE } from './routes';

export interface RunningService {
  readonly url: string;
  readonly mirror: RunningMirror;
  stop(): Promise<void>;
}

/**
 * Starts the service: its mirror (the project file's services.${t.name}.mirrors,
 * for every tenant, copied into its database exactly once) and its HTTP API.
 * Port: options.port, else PORT, else the one in its url.
 */
export async function startService(options: { port?: number; brokers?: readonly string[] } = {}): Promise<RunningService> {
  const p = loadProject(projectFile());
  const declared = p.project.services[SERVICE];
  if (!declared) throw new Error(\`\${p.file} declares no service \${SERVICE}: add it under services (strangler new service writes it)\`);
  const brokers = options.brokers ?? (process.env.STRANGLER_KAFKA ?? p.project.infrastructure.kafka?.bootstrap ?? '127.0.0.1:19092').split(',');
  const mirror = await startMirror(p, SERVICE, { brokers, onError: (err) => console.error(\`\${SERVICE}: \${(err as Error).message}\`) });
  const server = http.createServer(createApp(mirror.db, mirror, Object.keys(p.project.tenants)));
  const port = options.port ?? Number(process.env.PORT ?? (new URL(declared.url).port || 80));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await mirror.stop();
    throw err;
  }
  return {
    url: \`http://127.0.0.1:\${(server.address() as AddressInfo).port}\`,
    mirror,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await mirror.stop();
    },
  };
}

if (require.main === module) {
  startService().then(
    (s) => {
      console.log(\`\${SERVICE}: serving \${s.url} (copies: \${s.mirror.tables.map((t) => t.target).join(', ')}; /freshness, /healthz)\`);
      const stop = () => void s.stop().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (err: Error) => {
      console.error(\`\${SERVICE}: \${err.message}\`);
      process.exit(1);
    },
  );
}
`,
    'test/parity.test.ts': `import { loadProject, rowPath, sampleKeys, waitUntilCopied } from '@strangler/project';
import { expectParity } from '@strangler/proxy';
import { startService, type RunningService } from '../src/main';
import { TENANT_HEADER } from '../src/app';
import { projectFile, ROUTES, SERVICE } from '../src/routes';

/**
 * Each route answers as the monolith does, for every tenant, on the rows the
 * monolith holds now: the copies are first brought to the monolith
 * database's position, then both sides are asked (expectParity: status,
 * content type, JSON; noise learned from asking the monolith again).
 * Against a running service with SERVICE_URL; else the test starts one
 * (Kafka from STRANGLER_KAFKA or the project file; the tenants' connectors
 * streaming).
 */
const project = loadProject(projectFile());
const tenants = Object.keys(project.project.tenants);

describe(\`\${SERVICE} answers as the monolith\`, () => {
  let service: RunningService | undefined;
  let url = process.env.SERVICE_URL ?? '';

  beforeAll(async () => {
    if (url === '') {
      service = await startService({ port: 0 });
      url = service.url;
    }
  }, 180_000);

  afterAll(async () => {
    await service?.stop();
  });

  describe.each(tenants)('tenant %s', (tenant) => {
    const database = project.databases[tenant]!;
    const monolith = project.project.tenants[tenant]!.monolith;

    it.each(ROUTES.map((r) => [r.path, r] as const))('GET %s', async (_path, route) => {
      const keys = await sampleKeys(database, route, 5);
      await waitUntilCopied(url, tenant, database, 120_000);
      if (keys.length === 0) {
        // Nothing to compare yet: the service must find no row either.
        const res = await fetch(url + route.path.replace(/:[A-Za-z0-9_]+/g, '0'), { headers: { [TENANT_HEADER]: tenant } });
        expect([400, 404]).toContain(res.status);
        return;
      }
      for (const key of keys) {
        await expectParity({ path: rowPath(route, key) }, { monolith, candidate: url, candidateHeaders: { [TENANT_HEADER]: tenant }, database });
      }
    });
  });
});
`,
    'README.md': `# ${t.name}

A service extracted from ${t.projectName}'s monolith, made by \`strangler new service\`. It owns:

- **its copies** of ${t.routes.map((r) => `\`${r.source}\``).join(', ')}, in its own database (the project file's \`services.${t.name}.database\`), for every tenant (a \`tenant\` column in front of each key), kept by its mirror (\`@strangler/project\`'s \`startMirror\`: exactly once, following the monolith's migrations);
- **its API** (\`src/app.ts\`): ${t.routes.map((r) => `\`GET ${r.path}\``).join(', ')}, each row from the copy, the tenant named by the proxy's \`x-strangler-tenant\` header; \`/freshness\` (how far behind each tenant's monolith the copies are: the proxy reads it for freshness and read-your-writes) and \`/healthz\`;
- **its parity test** (\`test/parity.test.ts\`): every route against each tenant's monolith with \`expectParity\`.

It must not write into the monolith's databases, nor serve a tenant the proxy did not name.

\`\`\`sh
npx tsx src/main.ts          # or: strangler up --project <file> runs it (services.${t.name}.command)
npx jest                     # its parity test (SERVICE_URL=<url> tests a running one)
\`\`\`

Routes are on the monolith until flipped: \`strangler routes set ${t.name}-<table> extracted --tenant <tenant> --reason "..."\`, back with \`strangler routes rollback ${t.name}-<table>\`.
`,
  };
}
