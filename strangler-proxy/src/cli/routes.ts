import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, UsageError } from '@strangler/common';
import { loadConfigFile } from '../config/compile';
import { MODES } from '../config/schema';
import type { RouteChange } from '../control/store';
import { formatSetting } from '../routes/modes';
import { AdminClient } from './admin-client';
import YAML from 'yaml';
import { readCorpus } from '../parity/corpus';
import { learnRoutes } from '../routes/learn';

interface RouteView {
  id: string;
  match: { methods: string[] | null; path: string; host: string | null };
  service: string | null;
  tenants: Record<string, { mode: string; percent?: number }>;
  summary: string;
}

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:18090';

/** Where the CLI finds the admin API and its token: flags, then environment, then the demo's token file. */
export function adminTarget(cmd: Command, repoRoot: string): AdminClient {
  const o = cmd.optsWithGlobals<{ adminUrl?: string; token?: string }>();
  const url = (o.adminUrl ?? process.env.STRANGLER_ADMIN_URL ?? DEFAULT_ADMIN_URL).replace(/\/$/, '');
  let token = o.token ?? process.env.STRANGLER_ADMIN_TOKEN;
  if (!token) {
    const stateDir = process.env.STRANGLER_STATE_DIR ?? path.join(repoRoot, '.strangler', 'stack');
    const file = process.env.STRANGLER_ADMIN_TOKEN_FILE ?? path.join(stateDir, 'proxy', 'admin-token');
    try {
      token = fs.readFileSync(file, 'utf8').trim();
    } catch {
      throw new UsageError(`no admin token: pass --token, set STRANGLER_ADMIN_TOKEN, or start the demo (npm start), which writes ${file}`);
    }
  }
  return new AdminClient({ url, token });
}

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('must be a number from 0 to 100');
  return n;
}

function formatChange(c: RouteChange): string {
  return `#${c.id} ${c.at} ${c.routeId}${c.scope === '*' ? '' : ` [${c.scope}]`}: ${formatSetting(c.previous)} -> ${formatSetting(c.next)} by ${c.actor} (${c.source}): ${c.reason}`;
}

/** `strangler routes ...`: validate a file locally; list, show, set, rollback and history through the admin API. */
export function registerRoutesCommands(program: Command, repoRoot: string): void {
  const routes = program
    .command('routes')
    .description("inspect and flip the proxy's routes")
    .option('--admin-url <url>', `admin API (env STRANGLER_ADMIN_URL, default ${DEFAULT_ADMIN_URL})`)
    .option('--token <token>', 'admin bearer token (env STRANGLER_ADMIN_TOKEN, or STRANGLER_ADMIN_TOKEN_FILE)');

  routes
    .command('validate <file>')
    .description('compile a proxy config without serving it; exits 1 with every error')
    .action((file: string) => {
      try {
        const c = loadConfigFile(path.resolve(file));
        console.log(`${file}: valid (${c.table.routes.length} routes, ${c.tenants.size} tenants, ${c.services.size} services)`);
      } catch (err) {
        if (err instanceof ConfigError) {
          console.error(err.message);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
    });

  routes
    .command('learn')
    .description('propose routes from observed traffic (a JSONL corpus: `strangler parity capture`, or the proxy\'s corpus capture): path templates with :param where the traffic shows values, reads apart from writes, in first-match order; every route on the monolith')
    .requiredOption('--corpus <file...>', 'JSONL corpus files (one request per line: method, path)')
    .option('--min-distinct <n>', 'a place where this many different words follow the same prefix is a parameter too', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError('must be a whole number, 2 or more');
      return n;
    }, 8)
    .option('--json', 'print JSON instead of YAML')
    .action((o: { corpus: string[]; minDistinct: number; json?: boolean }) => {
      const requests = o.corpus.flatMap((f) => readCorpus(path.resolve(f)));
      if (requests.length === 0) throw new UsageError(`${o.corpus.join(', ')} hold no requests: capture some traffic first (the proxy's corpus capture, or strangler parity capture)`);
      const learned = learnRoutes(requests, { minDistinct: o.minDistinct });
      if (o.json) {
        console.log(JSON.stringify({ requests: requests.length, routes: learned }, null, 2));
        return;
      }
      const doc = new YAML.Document({ routes: learned.map((r) => ({ id: r.id, match: r.match })) });
      doc.commentBefore = ` Proposed by \`strangler routes learn\` from ${requests.length} requests (${o.corpus.join(', ')}): every route on the monolith.\n Review the names and the order (first match wins), then put them under proxy.routes (or a routesFile).`;
      const seq = doc.get('routes', true) as YAML.YAMLSeq<YAML.YAMLMap>;
      seq.items.forEach((item, i) => (item.commentBefore = ` ${learned[i]!.seen} request(s), e.g. ${learned[i]!.examples.join(', ')}`));
      process.stdout.write(doc.toString({ lineWidth: 0 }));
    });

  routes
    .command('list')
    .description('every route with its mode per tenant')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { data } = await adminTarget(cmd, repoRoot).call<{ data: RouteView[] }>('GET', '/routes');
      if (opts.json) return void console.log(JSON.stringify(data, null, 2));
      const rows = data.map((r) => [r.id, `${r.match.methods?.join(',') ?? '*'} ${r.match.path}`, r.service ?? '-', r.summary]);
      printTable(['ROUTE', 'MATCH', 'SERVICE', 'MODES'], rows);
    });

  routes
    .command('show <route>')
    .description('one route and its mode per tenant')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const r = await adminTarget(cmd, repoRoot).call<RouteView>('GET', `/routes/${encodeURIComponent(id)}`);
      console.log(JSON.stringify(r, null, 2));
    });

  routes
    .command('set <route> <mode>')
    .description(`set a route's mode (${MODES.join(', ')}), for every tenant or one`)
    .option('--tenant <tenant>', 'only this tenant')
    .option('--percent <n>', 'canary share, 0-100', percent)
    .addOption(new Option('--reason <text>', 'why (goes into the audit log)').makeOptionMandatory())
    .action(async (id: string, mode: string, opts: { tenant?: string; percent?: number; reason: string }, cmd: Command) => {
      if (!(MODES as readonly string[]).includes(mode)) throw new UsageError(`mode must be one of ${MODES.join(', ')} (got "${mode}")`);
      const body = { mode, reason: opts.reason, ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(opts.percent !== undefined ? { percent: opts.percent } : {}) };
      const out = await adminTarget(cmd, repoRoot).call<{ change: RouteChange; route: RouteView }>('PUT', `/routes/${encodeURIComponent(id)}/mode`, body);
      console.log(formatChange(out.change));
      console.log(`now: ${out.route.summary}`);
    });

  routes
    .command('rollback <route>')
    .description("undo the route's last change (for every tenant, or one)")
    .option('--tenant <tenant>', 'only this tenant')
    .option('--reason <text>', 'why (goes into the audit log)')
    .action(async (id: string, opts: { tenant?: string; reason?: string }, cmd: Command) => {
      const body = { ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(opts.reason ? { reason: opts.reason } : {}) };
      const out = await adminTarget(cmd, repoRoot).call<{ change: RouteChange; route: RouteView }>('POST', `/routes/${encodeURIComponent(id)}/rollback`, body);
      console.log(formatChange(out.change));
      console.log(`now: ${out.route.summary}`);
    });

  for (const [verb, on] of [['freeze', true], ['unfreeze', false]] as const) {
    routes
      .command(`${verb} <route>`)
      .description(on ? 'stop parity gates from moving this route automatically (for every tenant, or one)' : 'let parity gates move this route again')
      .option('--tenant <tenant>', 'only this tenant')
      .addOption(new Option('--reason <text>', 'why (goes into the log)').makeOptionMandatory())
      .action(async (id: string, opts: { tenant?: string; reason: string }, cmd: Command) => {
        await adminTarget(cmd, repoRoot).call('POST', `/routes/${encodeURIComponent(id)}/${verb}`, { reason: opts.reason, ...(opts.tenant ? { tenant: opts.tenant } : {}) });
        console.log(`${id}${opts.tenant ? ` [${opts.tenant}]` : ''}: ${on ? 'frozen (no automatic moves)' : 'unfrozen'}`);
      });
  }

  const gates = program
    .command('gates')
    .description('parity gates: automatic promotion and rollback of routes')
    .option('--admin-url <url>', `admin API (env STRANGLER_ADMIN_URL, default ${DEFAULT_ADMIN_URL})`)
    .option('--token <token>', 'admin bearer token (env STRANGLER_ADMIN_TOKEN, or STRANGLER_ADMIN_TOKEN_FILE)');
  gates
    .command('status')
    .description('whether gates are paused, and which routes are frozen')
    .action(async (_o: unknown, cmd: Command) => {
      const s = await adminTarget(cmd, repoRoot).call<{ paused: boolean; controls: Array<{ scope: string; actor: string; reason: string; at: string }> }>('GET', '/gates');
      console.log(s.paused ? 'gates: PAUSED' : 'gates: running');
      for (const c of s.controls) console.log(`  ${c.scope === '*' ? 'paused' : `frozen ${c.scope}`} by ${c.actor} at ${c.at}: ${c.reason}`);
    });
  for (const [verb, on] of [['pause', true], ['resume', false]] as const) {
    gates
      .command(verb)
      .description(on ? 'stop every automatic move at once' : 'let gates move routes again')
      .addOption(new Option('--reason <text>', 'why (goes into the log)').makeOptionMandatory())
      .action(async (opts: { reason: string }, cmd: Command) => {
        await adminTarget(cmd, repoRoot).call('POST', `/gates/${verb}`, { reason: opts.reason });
        console.log(on ? 'gates paused' : 'gates resumed');
      });
  }

  routes
    .command('history <route>')
    .description('the audit log of one route, newest first')
    .option('--limit <n>', 'how many changes', (v) => Number.parseInt(v, 10), 50)
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { limit: number; json?: boolean }, cmd: Command) => {
      const { data } = await adminTarget(cmd, repoRoot).call<{ data: RouteChange[] }>('GET', `/routes/${encodeURIComponent(id)}/history?limit=${opts.limit}`);
      if (opts.json) return void console.log(JSON.stringify(data, null, 2));
      if (data.length === 0) console.log(`route ${id} has no recorded changes`);
      for (const c of data) console.log(formatChange(c));
    });
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}
