import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export interface PrometheusBinaries {
  readonly prometheus: string;
  readonly promtool: string;
  readonly version: string;
}

/**
 * Prometheus and promtool: from STRANGLER_PROMETHEUS_BIN (a folder holding
 * both), else on PATH (Debian's package puts them in /usr/bin). Null, with
 * what to do, when they are not there.
 */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): PrometheusBinaries | { readonly missing: string } {
  const dir = env.STRANGLER_PROMETHEUS_BIN;
  const candidates = dir ? [[`${dir}/prometheus`, `${dir}/promtool`]] : [['/usr/bin/prometheus', '/usr/bin/promtool'], ['prometheus', 'promtool']];
  for (const [prometheus, promtool] of candidates as Array<[string, string]>) {
    if (prometheus.includes('/') && !fs.existsSync(prometheus)) continue;
    const v = spawnSync(prometheus, ['--version'], { encoding: 'utf8' });
    if (v.error || v.status !== 0) continue;
    const t = spawnSync(promtool, ['--version'], { encoding: 'utf8' });
    if (t.error || t.status !== 0) continue;
    const version = /version (\S+)/.exec(`${v.stdout}${v.stderr}`)?.[1] ?? 'unknown';
    return { prometheus, promtool, version };
  }
  return {
    missing: dir
      ? `no prometheus and promtool in STRANGLER_PROMETHEUS_BIN=${dir}`
      : "Prometheus is not installed: `sudo apt-get install prometheus` (Debian's package: prometheus and promtool), or set STRANGLER_PROMETHEUS_BIN to a folder holding both (an official release)",
  };
}
