import YAML from 'yaml';
import { checkSource, connectSource, type SourceProblem } from '@strangler/cdc';
import { redactUrl } from '@strangler/common';
import { readCatalog, userTables, type TableReport } from './catalog';
import type { ProjectInput } from './schema';

export interface InitOptions {
  /** The tenant this app and database are (a-z, 0-9, _). */
  readonly tenant: string;
  /** The running app's base URL. */
  readonly app: string;
  readonly databaseUrl: string;
  /** @default the tenant's name */
  readonly name?: string;
  /** Host names the tenant's clients use. @default ["<tenant>.localhost"] */
  readonly hosts?: readonly string[];
}

export interface InitReport {
  readonly project: ProjectInput;
  /** The project file's text, with comments saying what was found. */
  readonly yaml: string;
  /** What capture needs and the database lacks, each with its fix (nothing was changed). */
  readonly problems: readonly SourceProblem[];
  readonly app: { readonly reachable: true; readonly status: number } | { readonly reachable: false; readonly problem: string };
  readonly tables: readonly TableReport[];
  /** Environment variables the file reads (a URL with a password is never written into it). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Looks at a running app and its PostgreSQL database without changing
 * either, and drafts the project file that puts Strangler around them:
 * every table captured, the proxy in front of the app, every route left on
 * the monolith (no routes: the proxy sends whatever no route matches to the
 * monolith).
 */
export async function inspect(o: InitOptions): Promise<InitReport> {
  const db = await connectSource(o.databaseUrl, (reason, at) => `cannot reach the database ${at}: ${reason} (check the URL, that PostgreSQL listens there, and that pg_hba.conf lets this user in from here)`);
  let tables: string[];
  let problems: SourceProblem[];
  let catalog: TableReport[];
  try {
    tables = await userTables(db);
    problems = await checkSource(db, o.tenant, tables, `add them (schema strangler, nothing else): npm run migrate -- latest monolith-cdc --database-url ${redactUrl(o.databaseUrl)} (or strangler cdc register ... --prepare)`);
    catalog = await readCatalog(db, o.databaseUrl, tables);
  } finally {
    await db.end().catch(() => {});
  }
  const app = await probeApp(o.app);
  const secretInUrl = new URL(o.databaseUrl).password !== '';
  const envName = `${o.tenant.toUpperCase()}_DATABASE_URL`;
  const project: ProjectInput = {
    version: 1,
    name: (o.name ?? o.tenant).replace(/_/g, '-'),
    tenants: { [o.tenant]: { monolith: o.app.replace(/\/$/, ''), database: secretInUrl ? { env: envName } : { value: o.databaseUrl }, hosts: [...(o.hosts ?? [`${o.tenant}.localhost`])] } },
    capture: { tables: tables.length > 0 ? tables : ['public.<table>'] },
    services: {},
    proxy: { listen: { host: '127.0.0.1', port: 8080 }, admin: { host: '127.0.0.1', port: 8090 }, routes: [] },
  };
  return { project, yaml: render(project, o, catalog, problems), problems, app, tables: catalog, env: secretInUrl ? { [envName]: o.databaseUrl } : {} };
}

async function probeApp(url: string): Promise<InitReport['app']> {
  try {
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return { reachable: true, status: res.status };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { reachable: false, problem: `the app does not answer at ${url}: ${e.name === 'TimeoutError' ? 'no answer in 5 s' : (e.cause?.code ?? e.cause?.message ?? e.message)} (start it, or pass the URL it serves on with --app)` };
  }
}

/** The file, with what init found as comments beside what it wrote. */
function render(project: ProjectInput, o: InitOptions, catalog: readonly TableReport[], problems: readonly SourceProblem[]): string {
  const doc = new YAML.Document(project);
  doc.commentBefore = [
    ` strangler.yaml: written by \`strangler init\` from ${o.app} and ${redactUrl(o.databaseUrl)}.`,
    ' Checked with `strangler project check`; the JSON Schema is project/schema/strangler-project.schema.json.',
    ...(problems.some((p) => !p.warning) ? ['', ' Before capture can start (nothing was changed in the database):', ...problems.filter((p) => !p.warning).flatMap((p) => [`   - ${p.problem}`, `     fix: ${p.fix}`])] : []),
    ...(problems.some((p) => p.warning) ? ['', ' Registering the capture will also:', ...problems.filter((p) => p.warning).map((p) => `   - ${p.problem}`)] : []),
  ].join('\n');
  const tablesNode = doc.getIn(['capture', 'tables']) as YAML.YAMLSeq<YAML.Scalar<string>> | undefined;
  for (const item of tablesNode?.items ?? []) {
    const t = catalog.find((r) => r.table === item.value);
    if (!t) continue;
    const notes = [
      t.key ? `key ${t.key.columns.join(', ')} (${t.key.from})` : `no key: ${t.howToKey}`,
      t.rowsEstimate !== null ? `~${t.rowsEstimate} rows` : null,
      t.partitioned ? 'partitioned (captured as one table)' : null,
      ...t.changedTypes.map((c) => `${c.column}: ${c.from} -> ${c.to} in a copy (${c.why})`),
      t.generated.length > 0 ? `generated ${t.generated.join(', ')}: not published; a copy computes them` : null,
    ].filter((x): x is string => x !== null);
    item.comment = ` ${notes.join('; ')}`;
  }
  const routes = doc.getIn(['proxy', 'routes'], true) as YAML.Node | undefined;
  if (routes) routes.commentBefore = ' Every route stays on the monolith until one is listed here. `strangler routes learn --corpus FILE` proposes them from traffic.';
  const services = doc.get('services', true) as YAML.Node | undefined;
  if (services) services.commentBefore = ' Extracted services: url, database, mirrors (captured tables copied into its database).';
  return doc.toString({ lineWidth: 0 });
}
