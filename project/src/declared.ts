import path from 'node:path';
import { mirrorProjection, readTableSpec, type MirrorTable, type ReplayableProjection } from '@strangler/cdc';
import { UsageError } from '@strangler/common';
import { ProjectError } from './errors';
import { loadProject, type LoadedProject } from './load';
import { copyName, mirrorProjectionName } from './mirror';

/**
 * What the generic commands (replay, parity data) take from a project file
 * instead of the sample's defaults: a declared service's mirror, its
 * database, its copies' names, the file's tenants.
 */

function service(p: LoadedProject, name: string) {
  const s = p.project.services[name];
  if (!s) throw new ProjectError('STR_ERR_PROJECT_UNKNOWN_SERVICE', `${p.file} declares no service ${JSON.stringify(name)}${Object.keys(p.project.services).length ? ` (it declares ${Object.keys(p.project.services).join(', ')})` : ' (add one under services:, with url, database and mirrors)'}`);
  return s;
}

/** `parity data --project FILE --service NAME --tenant T --table schema.table`: the tenant's database, the service's, the copy. */
export function dataParityTarget(file: string, serviceName: string, tenant: string, table: string): { sourceUrl: string; serviceUrl: string; serviceTable: string; key?: readonly string[] } {
  const p = loadProject(file);
  const s = service(p, serviceName);
  const sourceUrl = p.databases[tenant];
  if (sourceUrl === undefined) throw new UsageError(`--tenant ${tenant}: ${file} declares no such tenant (tenants: ${Object.keys(p.project.tenants).join(', ')})`);
  const qualified = table.includes('.') ? table : `public.${table}`;
  if (!s.mirrors.includes(qualified)) throw new UsageError(`--table ${table}: service ${serviceName} does not mirror it (services.${serviceName}.mirrors: ${s.mirrors.join(', ') || 'none'})`);
  const key = p.project.capture.keys[qualified];
  return { sourceUrl, serviceUrl: p.serviceDatabases[serviceName]!, serviceTable: copyName(qualified), ...(key ? { key } : {}) };
}

/** Every declared mirror of a project file, replayable by its service's name (`strangler replay NAME --project FILE`). */
export function projectReplayables(file: string): Record<string, ReplayableProjection> {
  const p = loadProject(file);
  const tenants = Object.keys(p.project.tenants);
  const schemaSource = p.databases[tenants[0]!]!;
  const out: Record<string, ReplayableProjection> = {};
  for (const [name, s] of Object.entries(p.project.services)) {
    if (s.mirrors.length === 0) continue;
    const spec = (source: string): Promise<MirrorTable> => readTableSpec(schemaSource, source, copyName(source), { ...(p.project.capture.keys[source] ? { key: p.project.capture.keys[source] } : {}) });
    out[name] = {
      description: `service ${name}'s mirror (${mirrorProjectionName(p, name)}) of ${s.mirrors.join(', ')}`,
      defaultDatabaseUrl: p.serviceDatabases[name]!,
      tenants,
      sourceUrl: (tenant) => {
        const url = p.databases[tenant];
        if (url === undefined) throw new UsageError(`tenant ${tenant}: ${file} declares no such tenant (tenants: ${tenants.join(', ')})`);
        return url;
      },
      build: async ({ tenants: chosen }) => mirrorProjection(mirrorProjectionName(p, name), await Promise.all(s.mirrors.map(spec)), { tenants: chosen, refresh: (t) => spec(t.source), heartbeats: true }),
    };
  }
  return out;
}

/** The toolkit's root: where `.strangler/` holds each stack's state. */
const TOOLKIT_ROOT = path.resolve(__dirname, '..', '..');

/** The state folder `strangler up --project` keeps a project's processes and logs in: STRANGLER_STATE_DIR, else `.strangler/project-<name>` in the toolkit. */
export function projectStateDir(p: LoadedProject, env: NodeJS.ProcessEnv = process.env): string {
  return env.STRANGLER_STATE_DIR ?? path.join(TOOLKIT_ROOT, '.strangler', `project-${p.project.name}`);
}

/** `cdc status | register --project FILE`: the tenants' databases and captured tables, the services' databases, the file's Connect, and the log of the Connect `up --project` runs. */
export function cdcProjectView(file: string): { serviceDatabases: string[]; connectUrl?: string; connectLog: string; tenants: Record<string, string>; tables: string[] } {
  const p = loadProject(file);
  return {
    tenants: { ...p.databases },
    tables: [...p.project.capture.tables],
    serviceDatabases: Object.values(p.serviceDatabases),
    ...(p.project.infrastructure.connect ? { connectUrl: p.project.infrastructure.connect.url } : {}),
    connectLog: path.join(projectStateDir(p), 'logs', 'connect.log'),
  };
}

/** `dlq --project FILE`: the file's Kafka, and each service's mirror projection by the service's name. */
export function dlqProjectView(file: string): { kafka?: string; projections: Record<string, string> } {
  const p = loadProject(file);
  return {
    ...(p.project.infrastructure.kafka ? { kafka: p.project.infrastructure.kafka.bootstrap } : {}),
    projections: Object.fromEntries(Object.entries(p.project.services).filter(([, s]) => s.mirrors.length > 0).map(([name]) => [name, mirrorProjectionName(p, name)])),
  };
}

/**
 * The consumers a project file declares, for `strangler contracts` and
 * `strangler catalog --project`: each service's mirror reads every column of
 * the tables it copies (what a mirror needs of a stream's contract).
 */
export function projectConsumers(file: string): Array<{ name: string; owner: string; kind: 'mirror'; reads: Record<string, '*'>; group: string }> {
  const p = loadProject(file);
  return Object.entries(p.project.services)
    .filter(([, s]) => s.mirrors.length > 0)
    .map(([name, s]) => {
      const projection = mirrorProjectionName(p, name);
      return { name: projection, owner: `service ${name} (${file})`, kind: 'mirror' as const, reads: Object.fromEntries(s.mirrors.map((t) => [t.includes('.') ? t : `public.${t}`, '*' as const])), group: `strangler-projection-${projection}` };
    });
}
