import fs from 'node:fs';
import path from 'node:path';
import type { ParityReport } from './runner';
import { formatSuggestion } from './suggest';

/** Writes `parity-report.json` and a self-contained `parity-report.html` into `dir`; returns both paths. */
export function writeReports(report: ParityReport, dir: string): { json: string; html: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'parity-report.json');
  const html = path.join(dir, 'parity-report.html');
  fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(html, renderHtml(report));
  return { json, html };
}

/** One line per route for a terminal. */
export function formatSummary(report: ParityReport): string {
  const rows = report.routes.map((r) =>
    [
      r.passed ? 'PASS' : 'FAIL',
      r.route,
      `${r.samples} samples`,
      `${r.matches} match`,
      `${r.mismatches} mismatch (${(r.mismatchRate * 100).toFixed(1)} %)`,
      `${r.noiseSuppressed} filtered (${(r.filteredShare * 100).toFixed(1)} %)`,
      `${r.errors} errors`,
      `${r.noiseDiscarded} noise pairs discarded`,
      `monolith p50/p99 ${r.latencyMs.monolith.p50}/${r.latencyMs.monolith.p99} ms`,
      `extracted ${r.latencyMs.extracted.p50}/${r.latencyMs.extracted.p99} ms`,
    ].join('  '),
  );
  const t = report.totals;
  rows.push(
    `${report.passed ? 'PASS' : 'FAIL'}  ${t.compared} compared, ${t.matches} match, ${t.filtered} filtered, ${t.mismatches} mismatch, ${t.errors} errors, ${t.skipped} skipped, ${t.noiseDiscarded} noise pairs discarded (thresholds: mismatches ${(report.maxMismatchRate * 100).toFixed(1)} %, filtered ${(report.maxFilteredShare * 100).toFixed(1)} %)`,
  );
  for (const line of suggestionLines(report)) rows.push(line);
  if (report.routes.length === 0) rows.unshift('no corpus request reached a route with an extracted service: nothing was compared');
  return rows.join('\n');
}

/** Each distinct suggested rule once per route, as one line to paste from. */
function suggestionLines(report: ParityReport): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of report.mismatches) {
    for (const s of m.suggestions) {
      const id = m.route.split(' ')[0]!;
      const line = `suggested: ${formatSuggestion(s, id)}`;
      if (!seen.has(`${id} ${s.text}`)) out.push(line);
      seen.add(`${id} ${s.text}`);
    }
  }
  return out;
}

const esc = (v: unknown) =>
  String(typeof v === 'string' ? v : v === undefined ? '(absent)' : JSON.stringify(v))
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** The HTML report: no script, no external resource; summary counts carry data-* attributes. */
export function renderHtml(r: ParityReport): string {
  const t = r.totals;
  const routeRows = r.routes
    .map(
      (x) => `<tr class="${x.passed ? 'pass' : 'fail'}" data-route="${esc(x.route)}">
  <td>${x.passed ? 'PASS' : 'FAIL'}</td><td><code>${esc(x.route)}</code></td>
  <td data-field="samples">${x.samples}</td><td data-field="matches">${x.matches}</td><td data-field="mismatches">${x.mismatches}</td>
  <td data-field="noise">${x.noiseSuppressed}</td><td data-field="discarded">${x.noiseDiscarded}</td><td data-field="errors">${x.errors}</td><td>${(x.mismatchRate * 100).toFixed(1)} %</td>
  <td>${x.latencyMs.monolith.p50} / ${x.latencyMs.monolith.p99}</td><td>${x.latencyMs.extracted.p50} / ${x.latencyMs.extracted.p99}</td></tr>`,
    )
    .join('\n');
  const noise = r.routes
    .filter((x) => x.learnedNoise.length > 0)
    .map(
      (x) => `<h3><code>${esc(x.route)}</code></h3><table><tr><th>path</th><th>seen differing</th><th>rate</th><th>left out?</th><th>example (monolith, monolith again)</th></tr>
${x.learnedNoise.map((n) => `<tr class="noise" data-noise="${n.noise}"><td><code>${esc(n.path)}</code></td><td>${n.seen} of ${n.samples}</td><td>${(n.rate * 100).toFixed(0)} %</td><td>${n.noise ? 'yes: met the bar' : 'no: under the bar, compared'}</td><td><code>${esc(n.example[0])}</code> / <code>${esc(n.example[1])}</code></td></tr>`).join('\n')}</table>`,
    )
    .join('\n');
  const mismatches = r.mismatches
    .map(
      (m) => `<details class="mismatch"><summary><code>${esc(m.request.method)} ${esc(m.request.path)}</code> — ${m.differences.length} difference(s) — <code>${esc(m.route)}</code></summary>
<table class="side"><tr><th>field</th><th>monolith</th><th>extracted</th></tr>
${m.differences.map((d) => `<tr><td><code>${esc(d.path)}</code> <small>${d.kind}</small></td><td><pre>${esc(d.primary)}</pre></td><td><pre>${esc(d.candidate)}</pre></td></tr>`).join('\n')}
</table>
${m.suggestions.map((s) => `<p class="suggestion">Suggested rule: <code>${esc(s.text)}</code> (${esc(s.why)}; resolves ${s.resolves})</p>`).join('\n')}
<table class="side"><tr><th>monolith answer (${m.monolith.status})</th><th>extracted answer (${m.extracted.status})</th></tr><tr><td><pre>${esc(m.monolith.body)}</pre></td><td><pre>${esc(m.extracted.body)}</pre></td></tr></table></details>`,
    )
    .join('\n');
  const skipped = r.skipped.map((s) => `<tr><td><code>${esc(s.method)} ${esc(s.path)}</code></td><td>${esc(s.reason)}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parity report: ${esc(r.tenant)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2330}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccd;padding:.3rem .6rem;text-align:left;vertical-align:top}
tr.pass td:first-child{color:#0a7a32;font-weight:600}tr.fail td:first-child{color:#b3261e;font-weight:600}
.verdict{font-size:1.4rem;font-weight:700}.verdict.pass{color:#0a7a32}.verdict.fail{color:#b3261e}
pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:48rem;max-height:24rem;overflow:auto}
table.side td{width:50%}details{margin:.5rem 0;border:1px solid #ccd;padding:.4rem}
dl.totals{display:grid;grid-template-columns:repeat(8,auto);gap:.2rem 1rem;max-width:40rem}dt{color:#667}dd{margin:0;font-weight:600}
</style></head><body>
<h1>Parity report — tenant <code>${esc(r.tenant)}</code></h1>
<p class="verdict ${r.passed ? 'pass' : 'fail'}" id="verdict">${r.passed ? 'PASS' : 'FAIL'}</p>
<p>Generated ${esc(r.generatedAt)}; a route passes when its mismatch rate is at most ${(r.maxMismatchRate * 100).toFixed(1)} %, at most ${(r.maxFilteredShare * 100).toFixed(1)} % of its comparisons matched only by leaving learned noise out, and no request errored.</p>
<dl class="totals" id="totals">
<dt>requests</dt><dd data-total="requests">${t.requests}</dd><dt>compared</dt><dd data-total="compared">${t.compared}</dd>
<dt>matches</dt><dd data-total="matches">${t.matches}</dd><dt>filtered</dt><dd data-total="filtered">${t.filtered}</dd><dt>mismatches</dt><dd data-total="mismatches">${t.mismatches}</dd>
<dt>errors</dt><dd data-total="errors">${t.errors}</dd><dt>skipped</dt><dd data-total="skipped">${t.skipped}</dd><dt>noise pairs discarded</dt><dd data-total="noiseDiscarded">${t.noiseDiscarded}</dd>
</dl>
<h2>Routes</h2>
<table id="routes"><tr><th></th><th>route</th><th>samples</th><th>matches</th><th>mismatches</th><th>filtered by learned noise</th><th>noise pairs discarded</th><th>errors</th><th>mismatch rate</th><th>monolith p50 / p99 ms</th><th>extracted p50 / p99 ms</th></tr>
${routeRows}
</table>
<h2>Learned noise</h2>
${noise || '<p>Nothing: the monolith answered every request the same twice.</p>'}
<p>A path is left out only once it differed in enough pairs of monolith answers taken while the data did not change; a pair across a change is discarded.</p>
<h2>Mismatches</h2>
${mismatches || '<p>None.</p>'}
<h2>Skipped requests</h2>
${skipped ? `<table><tr><th>request</th><th>why</th></tr>${skipped}</table>` : '<p>None.</p>'}
</body></html>
`;
}
