import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { TENANT_NAME, UsageError } from '@strangler/common';
import { inspect } from './init';
import { loadProject } from './load';
import { describeMirror, startMirror } from './mirror';
import { scaffoldService } from './scaffold';

const DEFAULT_FILE = 'strangler.yaml';

/** `strangler init` and `strangler project check`: the project file. */
export function registerProjectCommands(program: Command): void {
  program
    .command('init')
    .description('look at a running app and its PostgreSQL database (changing neither) and write a project file: every table captured, the proxy in front of the app, every route on the monolith; says what capture still needs, with the fix')
    .requiredOption('--tenant <name>', 'the tenant this app and database are (a-z, 0-9, _)', (v: string) => {
      if (!TENANT_NAME.test(v)) throw new InvalidArgumentError('must start with a letter and hold only a-z, 0-9 and _');
      return v;
    })
    .requiredOption('--app <url>', "the running app's base URL, such as http://127.0.0.1:3000", (v: string) => {
      if (!/^https?:\/\/[^\s/]+/.test(v)) throw new InvalidArgumentError('must be an http:// or https:// URL such as http://127.0.0.1:3000');
      return v;
    })
    .requiredOption('--database-url <url>', "the app's database, postgresql://user[:password]@host:port/db", (v: string) => {
      if (!/^postgres(?:ql)?:\/\/[^\s]+\/[^\s/]+$/.test(v)) throw new InvalidArgumentError('must be a PostgreSQL URL such as postgresql://user@127.0.0.1:5432/app');
      return v;
    })
    .option('--name <name>', 'the project name (default: the tenant)')
    .option('--host <name...>', 'host names its clients use (default <tenant>.localhost)')
    .option('--out <file>', 'where to write the project file', DEFAULT_FILE)
    .option('--force', 'overwrite the file if it exists')
    .option('--json', 'print the findings as JSON (the file is written all the same)')
    .action(async (o: { tenant: string; app: string; databaseUrl: string; name?: string; host?: string[]; out: string; force?: boolean; json?: boolean }) => {
      if (fs.existsSync(o.out) && !o.force) throw new UsageError(`${o.out} exists: pass --force to overwrite it, or --out another file`);
      const r = await inspect({ tenant: o.tenant, app: o.app, databaseUrl: o.databaseUrl, ...(o.name ? { name: o.name } : {}), ...(o.host ? { hosts: o.host } : {}) });
      fs.writeFileSync(o.out, r.yaml);
      const blocking = r.problems.filter((p) => !p.warning);
      if (o.json) {
        console.log(JSON.stringify({ file: path.resolve(o.out), app: r.app, problems: r.problems, tables: r.tables, env: Object.keys(r.env) }, null, 2));
      } else {
        const lines = [`wrote ${o.out}: ${r.tables.length} tables captured, the proxy in front of ${o.app}, every route on the monolith`];
        lines.push(r.app.reachable ? `app: answers (${r.app.status})` : `app: ${r.app.problem}`);
        for (const t of r.tables) {
          const notes = [t.key ? `key ${t.key.columns.join(', ')}` : 'NO KEY', ...t.changedTypes.map((c) => `${c.column} ${c.from} -> ${c.to}`), ...(t.generated.length ? [`generated ${t.generated.join(', ')}`] : [])];
          lines.push(`  ${t.table.padEnd(32)} ${notes.join('; ')}`);
        }
        for (const t of r.tables.filter((x) => x.howToKey)) lines.push(`${t.table}: ${t.howToKey}`);
        if (Object.keys(r.env).length > 0) lines.push(`the database URL holds a password, so the file reads it from the environment: export ${Object.keys(r.env).join(', ')}=<the URL>`);
        if (blocking.length > 0) lines.push('before capture can start (nothing was changed):', ...blocking.flatMap((p) => [`  - ${p.problem}`, `    fix: ${p.fix}`]));
        else lines.push('capture: ready');
        const notes = r.problems.filter((p) => p.warning);
        if (notes.length > 0) lines.push('registering the capture will also:', ...notes.map((p) => `  - ${p.problem}`));
        console.log(lines.join('\n'));
      }
      if (blocking.length > 0 || !r.app.reachable) process.exitCode = 1;
    });

  program
    .command('mirror')
    .description("a declared service's mirror of the captured tables, from the project file alone")
    .command('run')
    .description("copy the tables services.<NAME>.mirrors lists, for every tenant, into the service's database (exactly once, following the monolith's migrations), and serve /freshness, /position, /metrics; runs until SIGTERM or SIGINT")
    .requiredOption('--service <name>', 'the service (services.<name> in the project file)')
    .option('--project <file>', 'the project file', DEFAULT_FILE)
    .option('--port <n>', 'port of /freshness, /position and /metrics (default services.<name>.mirrorPort)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port, 0 to 65535');
      return n;
    })
    .option('--kafka <brokers>', 'Kafka bootstrap servers (default: infrastructure.kafka.bootstrap, else STRANGLER_KAFKA, else the stack\'s)')
    // `strangler up --project` marks its children with its state folder on the command line (orphan reaping): accepted, unused.
    .addOption(new Option('--strangler-state <dir>').hideHelp())
    .action(async (o: { service: string; project: string; port?: number; kafka?: string }) => {
      const p = loadProject(o.project);
      const brokers = (o.kafka ?? p.project.infrastructure.kafka?.bootstrap ?? process.env.STRANGLER_KAFKA ?? `127.0.0.1:${process.env.STRANGLER_KAFKA_PORT ?? 19092}`).split(',');
      const m = await startMirror(p, o.service, { brokers, ...(o.port !== undefined ? { port: o.port } : {}), onError: (err) => console.error(`mirror: ${(err as Error).message}`), onWarning: (w) => console.error(`mirror: ${w.message}`) });
      console.log(describeMirror(m, p.serviceDatabases[o.service]!));
      await new Promise<void>((resolve) => {
        const stop = () => void m.stop().then(resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  program
    .command('new')
    .description('make something new from the project file')
    .command('service')
    .description("scaffold a TypeScript service beside the project file: its mirror of the tables, one route per table served from the copy (on the monolith's path shape), /freshness, a parity test against each tenant's monolith, a README; adds it and its routes (on the monolith until flipped) to the project file")
    .argument('<name>', 'the service (a-z, 0-9, _ and -)')
    .requiredOption('--tables <list>', 'captured tables it takes, schema.table comma-separated (public.orders,public.order_lines)', (v: string) => v.split(',').map((t) => t.trim()).filter(Boolean))
    .requiredOption('--database-url <url>', "the service's own database (its copies), postgresql://user@host:port/db")
    .option('--project <file>', 'the project file', DEFAULT_FILE)
    .option('--dir <folder>', "where the service's folder goes, from the project file's folder", 'extracted')
    .option('--port <n>', 'its port (default: a free one from 3100)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port, 1 to 65535');
      return n;
    })
    .option('--prefix <path>', "put in front of each route's path, as the monolith's are (/api gives /api/<table>/:id)", (v: string) => {
      if (!/^\/[A-Za-z0-9_\-/]*$/.test(v)) throw new InvalidArgumentError('must be a path such as /api');
      return v;
    })
    .action(async (name: string, o: { tables: string[]; databaseUrl: string; project: string; dir: string; port?: number; prefix?: string }) => {
      const r = await scaffoldService({ name, tables: o.tables, projectFile: o.project, databaseUrl: o.databaseUrl, dir: o.dir, ...(o.port !== undefined ? { port: o.port } : {}), ...(o.prefix ? { prefix: o.prefix } : {}) });
      const lines = [
        `made ${path.relative(process.cwd(), r.dir) || r.dir}: ${r.files.join(', ')}`,
        `${o.project}: services.${name} (${r.url}, run by strangler up --project) and ${r.routes.length} route(s) on the monolith until flipped:`,
        ...r.routes.map((x) => `  GET ${x.path}  (${x.source}, key ${x.key.join(', ')})`),
        ...r.probes.map((x) => `monolith GET ${x.path}: ${x.note}`),
      ];
      if (Object.keys(r.env).length > 0) lines.push(`the database URL holds a password, so the file reads it from the environment: export ${Object.keys(r.env).join(', ')}=<the URL>`);
      lines.push(`next: strangler up --project ${o.project}, then (cd ${path.relative(process.cwd(), r.dir) || '.'} && SERVICE_URL=${r.url} npx jest)`);
      console.log(lines.join('\n'));
    });

  program
    .command('project')
    .description('the project file (strangler.yaml)')
    .command('check')
    .description('validate a project file: every problem with its path and value')
    .argument('[file]', 'the project file', DEFAULT_FILE)
    .action((file: string) => {
      const p = loadProject(file);
      const services = Object.keys(p.project.services);
      console.log(`${file}: valid: ${Object.keys(p.project.tenants).length} tenant(s), ${p.project.capture.tables.length} table(s) captured, ${services.length} service(s)${services.length ? ` (${services.join(', ')})` : ''}, ${p.routes.length} route(s)`);
    });
}
