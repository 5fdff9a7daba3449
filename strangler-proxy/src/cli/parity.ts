import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfigFile } from '../config/compile';
import { readCorpus } from '../parity/corpus';
import { formatSummary, writeReports } from '../parity/report';
import { runParity } from '../parity/runner';

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
export function registerParityCommands(program: Command, repoRoot: string): Command {
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
    .option('--no-learn-noise', 'do not ask the monolith twice (no learned noise)')
    .option('--concurrency <n>', 'requests in flight', positive, 4)
    .action(async (o: { corpus: string; tenant: string; route?: string; config: string; out: string; maxMismatchRate: number; learnNoise: boolean; concurrency: number }) => {
      const config = loadConfigFile(o.config);
      const entries = readCorpus(o.corpus);
      const tty = process.stderr.isTTY;
      const report = await runParity({
        config,
        tenant: o.tenant,
        entries,
        ...(o.route ? { routeId: o.route } : {}),
        maxMismatchRate: o.maxMismatchRate,
        learnNoise: o.learnNoise,
        concurrency: o.concurrency,
        onProgress: tty ? (done, total) => process.stderr.write(`\r${done}/${total} requests\u001b[K`) : undefined,
      });
      if (tty) process.stderr.write('\n');
      const files = writeReports(report, o.out);
      console.log(formatSummary(report));
      console.log(`reports: ${files.json}, ${files.html}`);
      if (!report.passed) process.exitCode = 1;
    });
  return parity;
}
