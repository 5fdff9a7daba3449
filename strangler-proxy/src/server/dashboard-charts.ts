/**
 * The dashboard's charts and progress view: the parts of the page (markup,
 * style, script) that read GET /history and GET /progress and draw them as
 * inline SVG made in the browser (no library, no external resource: the
 * page's nonce-based CSP holds; values are set as attributes and text only).
 * Every chart carries the marks of what changed (flips, gate moves,
 * rollbacks, hand-overs) as vertical lines with their audit line as title.
 */
export const CHARTS_HTML = `
  <section id="charts-section"><h2>Charts</h2>
    <p class="actions"><label>window <select id="chart-window"><option>15m</option><option>1h</option><option>6h</option><option>24h</option><option>7d</option></select></label>
      <label>route <select id="chart-route"></select></label>
      <label>tenant <select id="chart-tenant"></select></label>
      <span id="chart-note"></span></p>
    <div class="charts">
      <figure><figcaption>Requests by target, per bucket</figcaption><svg id="chart-requests" class="chart" viewBox="0 0 640 180" role="img" aria-label="requests by target"></svg></figure>
      <figure><figcaption>Parity mismatch rate and the service's error rate</figcaption><svg id="chart-rates" class="chart" viewBox="0 0 640 180" role="img" aria-label="mismatch and error rates"></svg></figure>
      <figure><figcaption>Latency of both paths, p50 and p99 (ms)</figcaption><svg id="chart-latency" class="chart" viewBox="0 0 640 180" role="img" aria-label="latency"></svg></figure>
      <figure><figcaption>How far behind each service is for the tenant (ms), and its lag in events</figcaption><svg id="chart-freshness" class="chart" viewBox="0 0 640 180" role="img" aria-label="freshness"></svg></figure>
    </div>
  </section>
  <section id="progress-section"><h2>Progress</h2>
    <p id="progress-overall"></p>
    <figure><figcaption>Share of requests answered by new services (overall and per tenant)</figcaption><svg id="chart-progress" class="chart" viewBox="0 0 640 180" role="img" aria-label="share on new services"></svg></figure>
    <table id="progress-tenants"></table>
    <h3>How it moved</h3><table id="progress-trail"></table>
  </section>`;

export const CHARTS_STYLE = `
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(30rem, 1fr)); gap: 1rem; }
figure { margin: 0; } figcaption { font-size: .85rem; color: #4a5361; }
svg.chart { width: 100%; height: auto; background: #fbfcfd; border: 1px solid #e6e9ee; }
svg.chart text { font-size: 10px; fill: #4a5361; }
.legend { font-size: .8rem; } .legend span { margin-right: .8rem; }
.swatch { vertical-align: middle; margin-right: .25rem; }
#progress-overall strong { font-size: 1.3rem; }
`;

export const CHARTS_SCRIPT = `
const SVG = 'http://www.w3.org/2000/svg';
const COLORS = { samples: '#2f6fd6', monolith: '#7b8494', extracted: '#1f8a4c', fallback: '#d9822b', mismatchRate: '#b3261e', serviceErrorRate: '#d9822b', monolithP50: '#7b8494', monolithP99: '#3d4450', serviceP50: '#5fb883', serviceP99: '#1f8a4c' };
const PALETTE = ['#2f6fd6', '#1f8a4c', '#d9822b', '#8e44ad', '#b3261e', '#16a3a3'];
const MARK_COLORS = { flip: '#2f6fd6', gate: '#8e44ad', rollback: '#b3261e', file: '#7b8494', handover: '#16a3a3' };
let chartsAt = 0;
let chartsKey = '';

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Draws lines of points on a time axis: each series is one path (data-series,
 * data-max: the largest value it drew), each mark one dashed vertical line
 * (class mark, data-kind) with its audit line as title.
 */
function lineChart(id, from, to, points, series, marks, fmt) {
  const box = $(id);
  const W = 640, H = 180, L = 46, R = 8, T = 8, B = 22;
  const t0 = Date.parse(from), t1 = Math.max(Date.parse(to), t0 + 1);
  const x = (at) => L + ((Date.parse(at) - t0) / (t1 - t0)) * (W - L - R);
  let max = 0;
  for (const p of points) for (const s of series) { const v = p[s.key]; if (typeof v === 'number' && v > max) max = v; }
  const top = max > 0 ? max * 1.1 : 1;
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const kids = [svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#c5cbd3' }), svg('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#c5cbd3' }),
    svg('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(top)), svg('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, fmt(0)),
    svg('text', { x: L, y: H - 6 }, new Date(t0).toLocaleTimeString()), svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString())];
  for (const s of series) {
    let d = '';
    let drawn = 0;
    let pen = false;
    const dots = [];
    points.forEach((p, i) => {
      const v = p[s.key];
      if (typeof v !== 'number') { pen = false; return; }
      d += (pen ? 'L' : 'M') + x(p.at).toFixed(1) + ' ' + y(v).toFixed(1) + ' ';
      // A point with no neighbour would draw nothing as a path: a dot shows it.
      const next = points[i + 1];
      if (!pen && (!next || typeof next[s.key] !== 'number')) dots.push(svg('circle', { cx: x(p.at).toFixed(1), cy: y(v).toFixed(1), r: 2, fill: s.color, 'data-series': s.key }));
      pen = true;
      if (v > drawn) drawn = v;
    });
    const path = svg('path', { d: d.trim() || 'M0 0', fill: 'none', stroke: s.color, 'stroke-width': s.width || 1.5, 'data-series': s.key, 'data-max': drawn, class: 'series' });
    path.append(svg('title', {}, s.label));
    kids.push(path, ...dots);
  }
  for (const m of marks) {
    const at = Date.parse(m.at);
    if (at < t0 || at > t1) continue;
    const line = svg('line', { x1: x(m.at), x2: x(m.at), y1: T, y2: H - B, stroke: MARK_COLORS[m.kind] || '#333', 'stroke-dasharray': '4 3', class: 'mark', 'data-kind': m.kind });
    line.append(svg('title', {}, m.at + ' ' + m.kind + ': ' + m.text));
    kids.push(line);
  }
  box.replaceChildren(...kids);
  const legend = box.parentElement.querySelector('.legend') || box.parentElement.appendChild(el('div', { class: 'legend' }));
  legend.replaceChildren(...series.map((s) => el('span', null, swatch(s.color), s.label)), ...(marks.length ? [el('span', null, marks.length + ' change' + (marks.length === 1 ? '' : 's') + ' marked (hover a dashed line)')] : []));
}

function swatch(color) {
  // The colour as an SVG presentation attribute, not a style attribute: the CSP allows no inline styles.
  const box = svg('svg', { width: 12, height: 4, class: 'swatch' });
  box.append(svg('rect', { width: 12, height: 4, fill: color }));
  return box;
}

const num = (v) => (v >= 1000 ? (v / 1000).toFixed(1) + 'k' : v >= 10 ? v.toFixed(0) : v.toFixed(1));
const share = (v) => (v === null || v === undefined ? '-' : (v * 100).toFixed(1) + ' %');

async function charts(routes, tenants) {
  options($('chart-route'), routes.map((r) => [r.id, r.id]));
  options($('chart-tenant'), tenants.map((n) => [n, n]));
  const window = $('chart-window').value;
  const route = $('chart-route').value;
  const tenant = $('chart-tenant').value;
  const key = window + '|' + route + '|' + tenant;
  // The finest bucket is 5 s: reading more often would draw the same lines.
  if (key === chartsKey && Date.now() - chartsAt < 4000) return;
  chartsKey = key;
  chartsAt = Date.now();
  const [h, p] = await Promise.all([
    api('/history?window=' + encodeURIComponent(window) + '&route=' + encodeURIComponent(route) + '&tenant=' + encodeURIComponent(tenant)),
    api('/progress?window=' + encodeURIComponent(window)),
  ]);
  const r = h.routes.find((x) => x.route === route && x.tenant === tenant);
  const points = r ? r.points : [];
  $('chart-note').textContent = (r ? '' : 'no traffic recorded for ' + route + ' and ' + tenant + ' in this window; ') + 'buckets of ' + h.resolutionS + ' s';
  $('chart-note').setAttribute('data-drawn', key);
  const marks = h.marks;
  lineChart('chart-requests', h.from, h.to, points, [
    { key: 'monolith', label: 'monolith', color: COLORS.monolith }, { key: 'extracted', label: 'service', color: COLORS.extracted }, { key: 'fallback', label: 'fallback to the monolith', color: COLORS.fallback },
    { key: 'paritySamples', label: 'shadow comparisons', color: COLORS.samples, width: 1 }], marks, num);
  lineChart('chart-rates', h.from, h.to, points, [
    { key: 'mismatchRate', label: 'mismatch rate (shadow)', color: COLORS.mismatchRate }, { key: 'serviceErrorRate', label: 'service error rate', color: COLORS.serviceErrorRate }], marks, (v) => (v * 100).toFixed(0) + '%');
  lineChart('chart-latency', h.from, h.to, points, [
    { key: 'monolithP50', label: 'monolith p50', color: COLORS.monolithP50 }, { key: 'monolithP99', label: 'monolith p99', color: COLORS.monolithP99, width: 1 },
    { key: 'serviceP50', label: 'service p50', color: COLORS.serviceP50 }, { key: 'serviceP99', label: 'service p99', color: COLORS.serviceP99, width: 1 }], marks, num);
  const fresh = h.services.filter((s) => s.tenant === tenant);
  const merged = (fresh[0] ? fresh[0].points : []).map((pt, i) => Object.fromEntries([['at', pt.at], ...fresh.flatMap((s) => [[s.service, s.points[i].behindMs], [s.service + ':pending', s.points[i].pending]])]));
  lineChart('chart-freshness', h.from, h.to, merged, fresh.flatMap((s, i) => [
    { key: s.service, label: s.service + ' behind (ms)', color: PALETTE[i % PALETTE.length] },
    { key: s.service + ':pending', label: s.service + ' events pending', color: PALETTE[i % PALETTE.length], width: 0.75 }]), marks, num);
  progress(p);
}

function progress(p) {
  const o = p.overall;
  $('progress-overall').replaceChildren('New services answered ', el('strong', { id: 'progress-share', 'data-share': o.share === null ? '' : String(o.share) }, share(o.share)),
    ' of ' + o.requests + ' requests and ' + (o.writes === 0 ? 'no writes came' : share(o.writeShare) + ' of ' + o.writes + ' writes') + ' over the last ' + p.window + '; routes per tenant: ' + o.routes.moved + ' moved, ' + o.routes.moving + ' moving, ' + o.routes.monolith + ' on the monolith; domains per tenant: ' + o.domains.service + ' on their service of ' + o.domains.total + '.');
  const series = [{ key: 'overall', label: 'overall', color: '#1d2430', width: 2 }, ...p.tenants.map((t, i) => ({ key: 't:' + t.tenant, label: t.tenant, color: PALETTE[i % PALETTE.length] }))];
  const points = o.points.map((pt, i) => Object.fromEntries([['at', pt.at], ['overall', pt.share], ...p.tenants.map((t) => ['t:' + t.tenant, t.points[i].share])]));
  lineChart('chart-progress', p.from, p.to, points, series, p.trail.filter((m) => Date.parse(m.at) >= Date.parse(p.from) && m.kind !== 'file'), share);
  const t = $('progress-tenants');
  t.replaceChildren(el('tr', null, ...['tenant', 'requests on new services', 'writes on new services', 'routes moved', 'moving', 'on the monolith', 'domains on their service', 'domains on the monolith'].map((x) => el('th', null, x))));
  for (const x of p.tenants) {
    t.append(el('tr', { 'data-tenant': x.tenant }, el('td', null, x.tenant), el('td', { class: 'num share' }, share(x.share)), el('td', { class: 'num' }, share(x.writeShare)),
      el('td', null, x.routes.moved.join(', ') || '-'), el('td', null, x.routes.moving.map((m) => m.id + ' (' + m.mode + ')').join(', ') || '-'), el('td', null, x.routes.monolith.join(', ') || '-'),
      el('td', null, x.domains.service.join(', ') || '-'), el('td', null, x.domains.monolith.join(', ') || '-')));
  }
  const trail = $('progress-trail');
  trail.replaceChildren(el('tr', null, ...['at', 'what', 'change'].map((x) => el('th', null, x))));
  for (const m of p.trail.slice(0, 30)) trail.append(el('tr', { 'data-kind': m.kind }, el('td', null, m.at), el('td', null, m.kind), el('td', null, m.text)));
}
`;
