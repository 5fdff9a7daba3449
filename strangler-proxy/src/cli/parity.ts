import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { UsageError } from '@strangler/common';
import type { MismatchRecord, ParityStats } from '../parity/shadow-parity';
import { adminTarget } from './routes';
import { loadConfigFile } from '../config/compile';
import { readCorpus } from '../parity/corpus';
import { compareTableData, formatDataParity } from '../parity/data';
import { formatSummary, writeReports } from '../parity/report';
import { runParity } from '../parity/runner';
import type { RouteNoise } from '../parity/noise';
import { formatSuggestion, type RuleSuggestion } from '../parity/suggest';

/** Learned noise per route for a terminal: the pairs, the discards, and every path with its rate, whether it is left out, and an example. */
export function formatNoise(noise: readonly RouteNoise[]): string[] {
  const lines: string[] = [];
  for (const n of noise) {
    const discarded = Object.entries(n.discarded).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
    lines.push(`noise on ${n.route}: ${n.pairs} unchanged pair(s) of monolith answers${discarded.length > 0 ? `; discarded: ${discarded.join(', ')}` : ''}`);
    for (const l of n.learned) {
      lines.push(`    ${l.path}  ${l.seen}/${l.samples} (${(l.rate * 100).toFixed(0)} %)  ${l.noise ? 'left out' : 'under the bar: compared'}  e.g. ${JSON.stringify(l.example[0])} / ${JSON.stringify(l.example[1])}`);
    }
  }
  return lines;
}

function rate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a fraction from 0 to 1, e.g. 0.01 for 1 %');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

/** `strangler parity run`: the offline runner, made for CI (exit 1 when a route fails). */
/** Where `parity data --project FILE --service NAME` finds a tenant's table and the service's copy (given by the CLI that knows project files). */
export type DataParityResolver = (file: string, service: string, tenant: string, table: string) => { sourceUrl: string; serviceUrl: string; serviceTable: string; key?: readonly string[] };

export function registerParityCommands(program: Command, repoRoot: string, resolveProject?: DataParityResolver): Command {
  const parity = program.command('parity').description('prove that the extracted path answers as the monolith does');
  const defaultConfig = path.join(process.env.STRANGLER_STATE_DIR ?? path.join(repoRoot, '.strangler', 'stack'), 'proxy', 'proxy.yaml');
  parity
    .command('run')
    .description('send a corpus of requests to both paths, compare, report; exits 1 when a route fails')
    .requiredOption('--corpus <file>', 'JSONL: one request per line (captured by the proxy or written by hand)')
    .requiredOption('--tenant <name>', 'the tenant whose monolith and traffic to use')
    .option('--route <id>', 'only this route')
    .option('--config <file>', 'the proxy config naming tenants, services and routes', defaultConfig)
    .option('--out <dir>', 'where parity-report.json and parity-report.html go', 'parity-report')
    .option('--max-mismatch-rate <fraction>', 'a route fails above this mismatch rate', rate, 0)
    .option('--max-filtered-share <fraction>', 'a route fails when more of its comparisons than this matched only by leaving learned noise out', rate, 0.05)
    .option('--no-learn-noise', 'do not ask the monolith twice (no learned noise)')
    .option('--database <url>', "the tenant's monolith database: no noise is learned from two answers across a commit (default: the config's tenants.<t>.database)")
    .option('--concurrency <n>', 'requests in flight', positive, 4)
    .action(async (o: { corpus: string; tenant: string; route?: string; config: string; out: string; maxMismatchRate: number; maxFilteredShare: number; learnNoise: boolean; database?: string; concurrency: number }) => {
      const config = loadConfigFile(o.config);
      const entries = readCorpus(o.corpus);
      const tty = process.stderr.isTTY;
      const report = await runParity({
        config,
        tenant: o.tenant,
        entries,
        ...(o.route ? { routeId: o.route } : {}),
        maxMismatchRate: o.maxMismatchRate,
        maxFilteredShare: o.maxFilteredShare,
        learnNoise: o.learnNoise,
        ...(o.database ? { database: o.database } : {}),
        concurrency: o.concurrency,
        onProgress: tty ? (done, total) => process.stderr.write(`\r${done}/${total} requests\u001b[K`) : undefined,
      });
      if (tty) process.stderr.write('\n');
      const files = writeReports(report, o.out);
      console.log(formatSummary(report));
      console.log(`reports: ${files.json}, ${files.html}`);
      if (!report.passed) process.exitCode = 1;
    });
  const stackPg = process.env.STRANGLER_PG_URL ?? `postgresql://postgres@127.0.0.1:${process.env.STRANGLER_PG_PORT ?? 54329}/postgres`;
  const dbOf = (name: string) => stackPg.replace(/\/[^/]*$/, `/${name}`);
  parity
    .command('data')
    .description("compare a monolith table with the extracted service's copy for one tenant; prints the differing rows, exits 1 when any")
    .requiredOption('--tenant <name>', 'the tenant')
    .requiredOption('--table <[schema.]table>', 'the table in the monolith database')
    .option('--project <file>', "a project file: the tenant's database, the service's (--service) and its copy's name come from it")
    .option('--service <name>', 'with --project: the service whose copy is compared (services.<name>)')
    .option('--source-url <url>', "the tenant's monolith database (default: the project file's, else the stack's monolith_<tenant>)")
    .option('--service-url <url>', "the service's database (default: the project file's, else the stack's extracted_messaging)")
    .option('--service-table <name>', 'the copy in the service database (default: the same name)')
    .option('--buckets <n>', 'hash buckets the keys are spread over', positive, 1024)
    .option('--max-rows <n>', 'differing rows printed at most', positive, 50)
    .option('--key <col,col>', "the columns that pair the rows (default the monolith table's primary key, else the copy's without tenant)", (v: string) => v.split(',').map((c) => c.trim()).filter(Boolean))
    .option('--json', 'print the report as JSON')
    .action(async (o: { tenant: string; table: string; project?: string; service?: string; sourceUrl?: string; serviceUrl?: string; serviceTable?: string; buckets: number; maxRows: number; key?: string[]; json?: boolean }) => {
      if ((o.project === undefined) !== (o.service === undefined)) throw new UsageError('--project and --service go together: the project file, and the service whose copy is compared');
      if (o.project !== undefined && !resolveProject) throw new UsageError('this command was built without project files: pass --source-url and --service-url');
      const declared = o.project !== undefined ? resolveProject!(o.project, o.service!, o.tenant, o.table) : undefined;
      const serviceTable = o.serviceTable ?? declared?.serviceTable;
      const key = o.key ?? declared?.key;
      const report = await compareTableData({
        sourceUrl: o.sourceUrl ?? declared?.sourceUrl ?? dbOf(`monolith_${o.tenant}`),
        serviceUrl: o.serviceUrl ?? declared?.serviceUrl ?? dbOf('extracted_messaging'),
        tenant: o.tenant,
        table: o.table,
        ...(serviceTable ? { serviceTable } : {}),
        ...(key ? { key: [...key] } : {}),
        buckets: o.buckets,
        maxRows: o.maxRows,
      });
      console.log(o.json ? JSON.stringify(report, null, 2) : formatDataParity(report));
      if (!report.equal) process.exitCode = 1;
    });
  parity
    .command('status')
    .description("shadow parity figures per route and tenant, from the running proxy's admin API")
    .option('--window <seconds>', 'sliding window', positive, 300)
    .option('--admin-url <url>', 'admin API (env STRANGLER_ADMIN_URL, default http://127.0.0.1:18090)')
    .option('--token <token>', 'admin bearer token (env STRANGLER_ADMIN_TOKEN, or STRANGLER_ADMIN_TOKEN_FILE)')
    .option('--json', 'print JSON')
    .action(async (o: { window: number; json?: boolean }, cmd: Command) => {
      const out = await adminTarget(cmd, repoRoot).call<{ data: ParityStats[]; noise: RouteNoise[] }>('GET', `/parity?windowMs=${o.window * 1000}`);
      if (o.json) return void console.log(JSON.stringify(out, null, 2));
      if (out.data.length === 0) console.log('no shadow traffic compared yet');
      for (const s of out.data) {
        console.log(
          `${s.route} [${s.tenant}]: ${s.samples} compared: ${s.matched} matched, ${s.noiseFiltered} filtered by learned noise (${(s.filteredShare * 100).toFixed(1)} %), ${s.mismatches} mismatch (${(s.mismatchRate * 100).toFixed(1)} %); noise pairs discarded (data changed) ${s.noiseDiscarded}; shadow errors ${s.shadowErrors}, extracted served ${s.served} (${s.servedErrors} failed), avg ${s.primaryMsAvg.toFixed(1)} / ${s.shadowMsAvg.toFixed(1)} ms`,
        );
      }
      for (const line of formatNoise(out.noise)) console.log(line);
    });
  parity
    .command('mismatches')
    .description('sampled shadow mismatches from the control store, newest first')
    .option('--route <id>', 'one route')
    .option('--tenant <name>', 'one tenant')
    .option('--limit <n>', 'how many', positive, 10)
    .option('--admin-url <url>', 'admin API (env STRANGLER_ADMIN_URL, default http://127.0.0.1:18090)')
    .option('--token <token>', 'admin bearer token (env STRANGLER_ADMIN_TOKEN, or STRANGLER_ADMIN_TOKEN_FILE)')
    .action(async (o: { route?: string; tenant?: string; limit: number }, cmd: Command) => {
      const q = new URLSearchParams({ limit: String(o.limit), ...(o.route ? { route: o.route } : {}), ...(o.tenant ? { tenant: o.tenant } : {}) });
      const out = await adminTarget(cmd, repoRoot).call<{ data: Array<MismatchRecord & { id: number; at: string; suggestions?: RuleSuggestion[] }> }>('GET', `/parity/mismatches?${q}`);
      if (out.data.length === 0) console.log('no mismatch recorded');
      for (const m of out.data) {
        console.log(`#${m.id} ${m.at} ${m.routeId} [${m.tenant}] ${m.request.method} ${m.request.path}: monolith ${m.primary.status}, extracted ${m.shadow.status}`);
        for (const d of m.differences) console.log(`    ${d.path} (${d.kind}): ${JSON.stringify(d.primary)} -> ${JSON.stringify(d.candidate)}`);
        for (const s of m.suggestions ?? []) console.log(`    suggested: ${formatSuggestion(s, m.routeId)}`);
      }
    });
  return parity;
}
