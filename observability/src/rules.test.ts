import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { findPrometheus } from './binaries';
import { GRAFANA_DIR, JMX_RULES, OBSERVABILITY_DIR, RULE_FILES, RULE_TESTS } from './files';
import { prometheusConfig } from './prometheus-config';

const REPO = path.resolve(OBSERVABILITY_DIR, '..');
const found = findPrometheus();
const tools = 'missing' in found ? null : found;
if (!tools) {
  // Said once, plainly: these checks need promtool, which `npm test` installs where it can (scripts/ensure-prometheus.cjs).
  console.warn(`observability: promtool checks skipped: ${(found as { missing: string }).missing}`);
}
const withPromtool = tools ? describe : describe.skip;

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(tools!.promtool, args, { encoding: 'utf8', cwd: path.dirname(RULE_TESTS) });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

type Panel = { title: string; targets?: Array<{ expr: string }> };
const dashboards = fs.readdirSync(GRAFANA_DIR).filter((f) => f.endsWith('.json')).map((f) => ({ file: f, json: JSON.parse(fs.readFileSync(path.join(GRAFANA_DIR, f), 'utf8')) as { panels: Panel[]; annotations: { list: Array<{ expr: string }> } } }));
const grafanaExprs = dashboards.flatMap((d) => [...d.json.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${d.file}: ${p.title}`, expr: t.expr }))), ...d.json.annotations.list.map((a) => ({ where: `${d.file}: annotation`, expr: a.expr }))]);
const ruleExprs = RULE_FILES.flatMap((f) => (YAML.parse(fs.readFileSync(f, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string; annotations: Record<string, string> }> }> }).groups.flatMap((g) => g.rules));

withPromtool('alert rules and dashboards (promtool)', () => {
  it('the shipped rules pass promtool check rules', () => {
    const r = promtool('check', 'rules', ...RULE_FILES);
    expect(r.out).toContain(`SUCCESS: ${ruleExprs.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('every alert fires on the series that should raise it, after its `for`, and not before (promtool test rules)', () => {
    const r = promtool('test', 'rules', RULE_TESTS);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
    // Not vacuous: every alert of the rules is tested there.
    const tested = new Set([...fs.readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    const untested = ruleExprs.map((x) => x.alert).filter((a) => !tested.has(a));
    expect(untested).toEqual([]);
  });

  it('every Grafana panel query is valid PromQL', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-grafana-'));
    try {
      const rules = { groups: [{ name: 'grafana', rules: grafanaExprs.map((x, i) => ({ record: `grafana:query_${i}`, expr: x.expr.replaceAll('$__rate_interval', '1m').replaceAll('$route', '.*').replaceAll('$tenant', '.*') })) }] };
      const file = path.join(dir, 'grafana.rules.yml');
      fs.writeFileSync(file, YAML.stringify(rules));
      const r = promtool('check', 'rules', file);
      expect(r.out).toContain(`SUCCESS: ${grafanaExprs.length} rules found`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Prometheus config the stack writes passes promtool check config', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-prom-'));
    try {
      const token = path.join(dir, 'token');
      fs.writeFileSync(token, 'x');
      const file = path.join(dir, 'prometheus.yml');
      fs.writeFileSync(
        file,
        prometheusConfig({
          ruleFiles: RULE_FILES,
          targets: { proxies: [{ address: '127.0.0.1:18090', tokenFile: token }, { address: '127.0.0.1:18091', tokenFile: token }], services: [{ name: 'messaging', address: '127.0.0.1:18201' }], cdcExporter: '127.0.0.1:19406', connectJmx: ['127.0.0.1:19405'], brokerJmx: ['127.0.0.1:19404'] },
        }),
      );
      const r = promtool('check', 'config', file);
      expect(r.out).toContain('SUCCESS');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('alert rules and dashboards (their series exist)', () => {
  it('every strangler_* series a rule or a panel reads is one the toolkit exports, and every kafka_*/debezium_* one is named by the JMX rules', () => {
    const sources = ['strangler-proxy/src/metrics.ts', 'strangler-proxy/src/hot-metrics.ts', 'cdc/src/projector/metrics.ts', 'cdc/src/exporter.ts'].map((f) => fs.readFileSync(path.join(REPO, f), 'utf8')).join('\n');
    const jmx = Object.values(JMX_RULES).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    const names = new Set([...ruleExprs.map((r) => r.expr), ...grafanaExprs.map((g) => g.expr)].flatMap((e) => [...e.matchAll(/\b((?:strangler|kafka|debezium)_[a-z0-9_]+)/g)].map((m) => m[1]!)));
    const missing = [...names].filter((n) => {
      const base = n.replace(/_(bucket|sum|count)$/, '');
      if (n.startsWith('strangler_')) return !sources.includes(`'${base}'`) && !sources.includes(`${base} `) && !sources.includes(`${base}'`);
      // JMX names are built from a rule's name with its captured group lower-cased: the rule's prefix must be there.
      return ![...jmx.matchAll(/name: (\S+)/g)].some((m) => n.startsWith(m[1]!.replace(/\$\d.*$/, '')));
    });
    expect(missing).toEqual([]);
    expect(names.size).toBeGreaterThan(20);
  });

  it('every alert says what to do', () => {
    for (const r of ruleExprs) expect({ alert: r.alert, runbook: (r.annotations.runbook ?? '').length > 40, summary: !!r.annotations.summary }).toEqual({ alert: r.alert, runbook: true, summary: true });
  });
});
