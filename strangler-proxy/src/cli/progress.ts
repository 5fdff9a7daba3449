import { type Command, Option } from 'commander';
import type { Progress } from '../history/progress';
import { WINDOW_NAMES } from '../history/windows';
import { adminTarget } from './routes';

const share = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** The progress view as text: overall, per tenant, then how things moved. */
export function formatProgress(p: Progress, trail: number): string {
  const o = p.overall;
  const lines = [
    `over the last ${p.window} (${p.from} to ${p.to}):`,
    `  new services answered ${share(o.share)} of ${o.requests} requests and ${o.writes === 0 ? 'no writes came' : `${share(o.writeShare)} of ${o.writes} writes`}`,
    `  routes (per tenant): ${o.routes.moved} moved, ${o.routes.moving} moving, ${o.routes.monolith} on the monolith, of ${o.routes.total}`,
    `  domains (per tenant): ${o.domains.service} on their service, ${o.domains.monolith} on the monolith, of ${o.domains.total}`,
    '',
    table([
      ['TENANT', 'REQUESTS ON NEW', 'WRITES ON NEW', 'MOVED', 'MOVING', 'ON THE MONOLITH', 'DOMAINS MOVED'],
      ...p.tenants.map((t) => [
        t.tenant,
        `${share(t.share)} of ${t.requests}`,
        t.writes === 0 ? '-' : `${share(t.writeShare)} of ${t.writes}`,
        t.routes.moved.join(',') || '-',
        t.routes.moving.map((m) => `${m.id} (${m.mode})`).join(',') || '-',
        t.routes.monolith.join(',') || '-',
        t.domains.service.join(',') || '-',
      ]),
    ]),
  ];
  const moves = p.trail.filter((m) => m.kind !== 'file').slice(0, trail);
  if (moves.length > 0) lines.push('', 'how it moved, newest first:', ...moves.map((m) => `  ${m.at} ${m.kind}: ${m.text}`));
  return lines.join('\n');
}

/** `strangler progress [--window 1h] [--json]`: how far the migration is, through the admin API. */
export function registerProgressCommand(program: Command, repoRoot: string): void {
  program
    .command('progress')
    .description('how far the migration is: the share of requests and writes new services answer, per tenant and overall; routes and domains moved and still on the monolith; how they moved')
    .addOption(new Option('--window <window>', 'over this window').choices(WINDOW_NAMES).default('24h'))
    .option('--trail <n>', 'moves listed', '20')
    .option('--json', 'print JSON (with the share per bucket)')
    .option('--admin-url <url>', 'admin API (env STRANGLER_ADMIN_URL)')
    .option('--token <token>', 'admin bearer token (env STRANGLER_ADMIN_TOKEN, or STRANGLER_ADMIN_TOKEN_FILE)')
    .action(async (o: { window: string; trail: string; json?: boolean }, cmd: Command) => {
      const trail = Number(o.trail);
      if (!Number.isInteger(trail) || trail < 0) cmd.error(`strangler progress: --trail must be a whole number, not ${JSON.stringify(o.trail)}`, { exitCode: 2 });
      const p = await adminTarget(cmd, repoRoot).call<Progress>('GET', `/progress?window=${encodeURIComponent(o.window)}`);
      console.log(o.json ? JSON.stringify(p, null, 2) : formatProgress(p, trail));
    });
}
