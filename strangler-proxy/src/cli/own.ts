import { type Command, Option } from 'commander';
import type { HandoverResult } from '@strangler/ownership';
import type { HandoverRecord } from '../control/ownership-store';
import { adminTarget } from './routes';

interface OwnershipStatus {
  domains: Array<{
    domain: string;
    service: string;
    tables: string[];
    fence: string;
    tenants: Array<{ tenant: string; owner: string; epoch: number; handover: { id: number; to: string; step: string } | null; heldHere: number }>;
  }>;
  handovers: HandoverRecord[];
}

const ms = (v: unknown) => (typeof v === 'number' ? `${Math.round(v)} ms` : '-');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function formatHandover(h: HandoverRecord): string {
  const f = h.figures as Record<string, unknown>;
  const figures = h.status === 'done' ? ` pause ${ms(f.pauseMs)} (drain ${ms(f.drainMs)}, catch-up ${ms(f.catch_upMs)})` : '';
  return `#${h.id} ${h.startedAt} ${h.domain} [${h.tenant}] ${h.from} -> ${h.to}: ${h.status}${h.status === 'running' ? ` at ${h.step}` : ''}${figures} by ${h.actor}${h.forced ? ' (forced)' : ''}: ${h.reason}${h.error ? `\n    ${h.error}` : ''}`;
}

/**
 * `strangler own <domain> --tenant t --to service|monolith --reason "..."`
 * hands a domain's writes over for one tenant through the proxy's admin API
 * (which runs the protocol and records it); `own status` and `own conflicts`.
 */
export function registerOwnCommands(program: Command, repoRoot: string): void {
  const own = program
    .command('own')
    .description("hand a domain's writes to its extracted service for a tenant, or back to the monolith; see who owns what")
    .argument('[domain]', 'the domain (domains.<name> in the proxy config)')
    .option('--tenant <tenant>', 'the tenant whose domain moves')
    .addOption(new Option('--to <owner>', 'the new owner').choices(['service', 'monolith']))
    .option('--reason <text>', 'why (it goes into the audit log)')
    .option('--force', 'past the parity check (to the service) or the rollback guard (to the monolith); say why in --reason')
    .option('--json', 'print JSON')
    .option('--admin-url <url>', 'admin API (env STRANGLER_ADMIN_URL)')
    .option('--token <token>', 'admin bearer token (env STRANGLER_ADMIN_TOKEN, or STRANGLER_ADMIN_TOKEN_FILE)')
    .action(async (domain: string | undefined, o: { tenant?: string; to?: 'service' | 'monolith'; reason?: string; force?: boolean; json?: boolean }, cmd: Command) => {
      const missing = [!domain && '<domain>', !o.tenant && '--tenant <tenant>', !o.to && '--to service|monolith', !o.reason && '--reason "<why>"'].filter(Boolean);
      if (missing.length > 0) cmd.error(`strangler own: give ${missing.join(', ')} (for instance: strangler own messaging --tenant acme --to service --reason "rooms and messages move"), or see \`strangler own status\``, { exitCode: 2 });
      const admin = adminTarget(cmd, repoRoot);
      const r = await admin.call<HandoverResult>('POST', `/ownership/${encodeURIComponent(domain!)}/${encodeURIComponent(o.tenant!)}`, { to: o.to, reason: o.reason, force: !!o.force }, 120_000);
      if (o.json) return void console.log(JSON.stringify(r, null, 2));
      const f = r.figures;
      console.log(`${r.domain} of ${r.tenant}: the ${r.to} owns its writes now (hand-over #${r.id}, epoch ${r.epoch})`);
      console.log(`  writes paused ${ms(f.pauseMs)}: drain ${ms(f.drainMs)}, fence ${ms(f.fenceMs ?? f.revokeMs)}, catch-up ${ms(f.catch_upMs)}, sequences ${ms(f.sequencesMs)}, flip ${ms(f.flipMs)}`);
    });

  own
    .command('status')
    .description("each domain's owner per tenant, the hand-over running and its step, the latest hand-overs")
    .option('--json', 'print JSON')
    .option('--limit <n>', 'hand-overs listed', '10')
    .action(async (o: { json?: boolean; limit: string }, cmd: Command) => {
      const s = await adminTarget(cmd, repoRoot).call<OwnershipStatus>('GET', `/ownership?limit=${encodeURIComponent(o.limit)}`);
      if (o.json) return void console.log(JSON.stringify(s, null, 2));
      if (s.domains.length === 0) return void console.log('no domain is declared (domains in the proxy config)');
      const rows = [['DOMAIN', 'TENANT', 'OWNER', 'EPOCH', 'HAND-OVER', 'HELD HERE']];
      for (const d of s.domains) for (const t of d.tenants) rows.push([d.domain, t.tenant, t.owner, String(t.epoch), t.handover ? `#${t.handover.id} to ${t.handover.to} at ${t.handover.step}` : '-', String(t.heldHere)]);
      console.log(table(rows));
      if (s.handovers.length > 0) console.log(`\nhand-overs, newest first:\n${s.handovers.map((h) => `  ${formatHandover(h)}`).join('\n')}`);
    });

  own
    .command('conflicts')
    .description("writes the monolith made to a domain's tables while its service owned them (detect mode; enforce refuses them)")
    .option('--domain <domain>', 'the domain (default: the first declared)')
    .option('--tenant <tenant>', 'one tenant only')
    .option('--limit <n>', 'how many, newest first', '50')
    .option('--json', 'print JSON')
    .action(async (o: { domain?: string; tenant?: string; limit: string; json?: boolean }, cmd: Command) => {
      const q = new URLSearchParams({ limit: o.limit, ...(o.domain ? { domain: o.domain } : {}), ...(o.tenant ? { tenant: o.tenant } : {}) });
      const r = await adminTarget(cmd, repoRoot).call<{ domain: string; data: Array<{ id: number; tenant: string; table: string; op: string; key: unknown; lsn: string | null; committedAt: string | null }> }>('GET', `/ownership/conflicts?${q}`);
      if (o.json) return void console.log(JSON.stringify(r, null, 2));
      if (r.data.length === 0) return void console.log(`no conflicts recorded for ${r.domain}${o.tenant ? ` (${o.tenant})` : ''}`);
      console.log(table([['ID', 'TENANT', 'TABLE', 'OP', 'KEY', 'LSN', 'COMMITTED'], ...r.data.map((c) => [String(c.id), c.tenant, c.table, c.op, JSON.stringify(c.key), c.lsn ?? '-', c.committedAt ?? '-'])]));
    });
}
