import crypto from 'node:crypto';
import type { Express } from 'express';
import { CHARTS_HTML, CHARTS_SCRIPT, CHARTS_STYLE } from './dashboard-charts';
import { CATALOG_HTML, CATALOG_SCRIPT } from './dashboard-catalog';

/**
 * The operator's dashboard on the admin port: one self-contained page (no
 * asset from anywhere else) that reads the admin API with a token the
 * operator types in, kept in the tab's sessionStorage only. The page itself
 * holds no data, so it needs no token; every figure on it comes from the
 * token-checked endpoints, and what the token may not do (a read-only token
 * rolling back) is refused by the API and said on the page. Data is put in
 * the page as text, never as markup; a per-response nonce and a strict
 * Content-Security-Policy keep any other script out.
 *
 * It shows the routes with each tenant's mode, frozen routes and paused
 * gates, each extracted service's breaker and freshness, parity per route
 * and tenant over the last five minutes with a row's sampled mismatches on
 * a click (what differed, field by field), and a
 * route's audit log; with a write token, a reason and a click it sets a
 * route's mode (for a tenant or all), rolls it back, freezes or unfreezes it,
 * and pauses or resumes the gates. Below, charts over a chosen window and
 * the migration's progress (dashboard-charts.ts), then the streams of the
 * catalog (dashboard-catalog.ts).
 */
export function mountDashboard(app: Express): void {
  app.get('/', (_req, res) => res.redirect(302, '/dashboard'));
  app.get('/dashboard', (_req, res) => {
    const nonce = crypto.randomBytes(16).toString('base64');
    res.set({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    res.send(page(nonce));
  });
}

function page(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>strangler-proxy</title>
<style nonce="${nonce}">${STYLE}${CHARTS_STYLE}</style>
</head>
<body>
<header>
  <h1>strangler-proxy</h1>
  <nav id="links"></nav>
  <form id="login" autocomplete="off">
    <label>admin token <input id="token" type="password" size="32" placeholder="Bearer token (admin.tokens)"></label>
    <button type="submit">Connect</button>
    <button type="button" id="forget">Forget</button>
  </form>
</header>
<p id="status" role="status">Type an admin token to see the routes. It stays in this tab only.</p>
<main id="main" hidden>
  <section>
    <p id="summary"></p>
    <p class="actions"><label>reason <input id="reason" size="48" placeholder="why (goes to the audit log)"></label>
      <button type="button" id="pause">Pause gates</button> <button type="button" id="resume">Resume gates</button></p>
    <p class="actions"><label>route <select id="flip-route"></select></label>
      <label>tenant <select id="flip-tenant"></select></label>
      <label>mode <select id="flip-mode"><option>monolith</option><option>shadow</option><option>canary</option><option>extracted</option></select></label>
      <label>percent <input id="flip-percent" type="number" min="0" max="100" step="1" size="4" placeholder="canary"></label>
      <button type="button" id="flip-set">Set mode</button></p>
    <p id="outcome" role="alert"></p>
  </section>
  <section><h2>Routes</h2><table id="routes"></table></section>
  <section><h2>Extracted services</h2><table id="services"></table></section>
  <section><h2>Write ownership</h2><table id="ownership"></table><table id="handovers"></table></section>
  <section><h2>Parity, last 5 minutes</h2><table id="parity"></table>
    <h3>Learned noise</h3><p>A path is left out only once it differed in enough pairs of monolith answers taken while the data did not change; pairs across a change are discarded. A comparison that matched only by leaving noise out is filtered, never matched.</p><table id="noise"></table></section>
  <section><h2>Mismatches <span id="mismatch-of"></span></h2><div id="mismatches"></div></section>
  <section><h2>Audit log <span id="history-route"></span></h2><table id="history"></table></section>${CHARTS_HTML}${CATALOG_HTML}
</main>
<script nonce="${nonce}">${SCRIPT}${CHARTS_SCRIPT}${CATALOG_SCRIPT}</script>
</body>
</html>`;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1d2430; }
header { display: flex; align-items: baseline; gap: 2rem; border-bottom: 1px solid #d5dae1; }
nav a { margin-right: 1rem; }
h1 { font-size: 1.2rem; } h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; min-width: 40rem; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #e6e9ee; vertical-align: top; }
th { font-weight: 600; background: #f4f6f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.pick { cursor: pointer; } tr.pick:hover { background: #f8fafc; }
.mode { display: inline-block; padding: 0 .45rem; border-radius: .6rem; font-size: .85rem; }
.mode-monolith { background: #e6e9ee; } .mode-shadow { background: #e3ecfb; } .mode-canary { background: #fdf0d5; } .mode-extracted { background: #dcf3e3; }
.frozen { color: #8a5a00; font-size: .8rem; margin-left: .3rem; }
.bad { color: #b3261e; font-weight: 600; }
#status.error, #outcome.error { color: #b3261e; }
button.small { font-size: .75rem; padding: 0 .35rem; margin-left: .2rem; }
.mismatch { margin-bottom: 1rem; } .mismatch p { margin: .3rem 0; }
`;

/** The page's script: plain browser JavaScript, no framework, data set as text only. */
const SCRIPT = `
'use strict';
const KEY = 'strangler.admin.token';
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(KEY) || '';
let selected = null;
/** The parity row clicked: its sampled mismatches are shown. */
let mismatchesOf = null;
let timer = null;

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function api(path, init) {
  const res = await fetch(path, {
    method: (init && init.method) || 'GET',
    headers: Object.assign({ authorization: 'Bearer ' + token, 'x-strangler-actor': 'dashboard' }, init && init.body ? { 'content-type': 'application/json' } : {}),
    body: init && init.body ? JSON.stringify(init.body) : undefined,
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(body && body.error ? body.error.message + ' [' + body.error.code + ']' : 'HTTP ' + res.status);
    err.status = res.status;
    throw err;
  }
  return body;
}

function say(text, error) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function mode(setting) {
  const label = setting.mode === 'canary' ? 'canary ' + setting.percent + '%' : setting.mode;
  return el('span', { class: 'mode mode-' + setting.mode }, label);
}

const pct = (x) => (x * 100).toFixed(1) + ' %';
const ms = (x) => (x ? x.toFixed(1) + ' ms' : '');

async function act(label, path, body, method) {
  const reason = $('reason').value.trim();
  if (!reason) return outcome('Say why first: the reason goes to the audit log.', true);
  try {
    await api(path, { method: method || 'POST', body: Object.assign({ reason }, body) });
    outcome(label + ': done.', false);
    await refresh();
  } catch (e) {
    outcome(label + ': ' + e.message, true);
  }
}

function outcome(text, error) {
  $('outcome').textContent = text;
  $('outcome').className = error ? 'error' : '';
}

/** Refills a select with these values, keeping what was chosen. */
function options(select, values) {
  // Unchanged: left alone, so that a list the operator has open stays open through a refresh.
  if (select.options.length === values.length && values.every(([v, l], i) => select.options[i].value === v && select.options[i].text === l)) return;
  const was = select.value;
  select.replaceChildren(...values.map(([value, label]) => el('option', { value }, label)));
  if (values.some(([v]) => v === was)) select.value = was;
}

function flip() {
  const route = $('flip-route').value;
  const tenant = $('flip-tenant').value;
  const mode = $('flip-mode').value;
  const body = { mode };
  if (tenant) body.tenant = tenant;
  if ($('flip-percent').value !== '') body.percent = Number($('flip-percent').value);
  act('Set ' + route + ' to ' + mode + (body.percent !== undefined ? ' ' + body.percent + '%' : '') + ' for ' + (tenant || 'every tenant'), '/routes/' + encodeURIComponent(route) + '/mode', body, 'PUT');
}

function renderRoutes(routes, tenants, frozen) {
  options($('flip-route'), routes.map((r) => [r.id, r.id]));
  options($('flip-tenant'), [['', '(every tenant)'], ...tenants.map((n) => [n, n])]);
  const t = $('routes');
  t.replaceChildren(el('tr', null, el('th', null, 'route'), el('th', null, 'match'), el('th', null, 'service'), ...tenants.map((n) => el('th', null, n))));
  for (const r of routes) {
    const match = (r.match.methods ? r.match.methods.join(',') + ' ' : '') + r.match.path + (r.match.host ? ' host ' + r.match.host : '');
    const cells = tenants.map((n) => {
      const isFrozen = frozen.has(r.id) || frozen.has(r.id + ':' + n);
      const path = '/routes/' + encodeURIComponent(r.id);
      return el('td', { 'data-tenant': n },
        mode(r.tenants[n]),
        isFrozen ? el('span', { class: 'frozen' }, 'frozen') : null,
        el('button', { type: 'button', class: 'small', title: 'back to the previous mode for ' + n, on: { click: (ev) => { ev.stopPropagation(); act('Roll back ' + r.id + ' for ' + n, path + '/rollback', { tenant: n }); } } }, 'roll back'),
        el('button', { type: 'button', class: 'small', on: { click: (ev) => { ev.stopPropagation(); act((isFrozen ? 'Unfreeze ' : 'Freeze ') + r.id + ' for ' + n, path + (isFrozen ? '/unfreeze' : '/freeze'), { tenant: n }); } } }, isFrozen ? 'unfreeze' : 'freeze'));
    });
    t.append(el('tr', { class: 'pick', 'data-route': r.id, on: { click: () => { selected = r.id; history().catch((e) => outcome(e.message, true)); } } }, el('td', null, r.id), el('td', null, match), el('td', null, r.service || ''), ...cells));
  }
}

function renderServices(rows) {
  const t = $('services');
  t.replaceChildren(el('tr', null, ...['service', 'url', 'breaker', 'freshness per tenant: behind, applied through (a writer reads its write from the service once past it); reads held back over the limit, while loading, and for tenants not reported'].map((h) => el('th', null, h))));
  for (const s of rows) {
    const f = s.freshness;
    const fresh = !f
      ? 'not declared'
      : !f.reporting
        ? el('span', { class: 'bad' }, 'not reporting (reads not held back)')
        : el('span', null, ...Object.entries(f.tenants).flatMap(([tenant, x]) => [
            el('span', { class: x.heldBack ? 'bad' : '', 'data-tenant': tenant }, tenant + ' ' + (x.loading ? 'loading its snapshot' : (x.behindMs / 1000).toFixed(1) + ' s') + (x.appliedThrough ? ', applied through ' + x.appliedThrough.replace('T', ' ').replace('Z', ' UTC') : '') + (x.heldBack ? ' (held back)' : '')), ' ',
          ]), 'limit ' + (f.maxBehindMs / 1000).toFixed(1) + ' s');
    t.append(el('tr', { 'data-service': s.service }, el('td', null, s.service), el('td', null, s.url), el('td', { class: s.breaker === 'closed' ? '' : 'bad' }, s.breaker), el('td', null, fresh)));
  }
}

function renderOwnership(o) {
  const t = $('ownership');
  t.replaceChildren(el('tr', null, ...['domain', 'tenant', 'owner', 'epoch', 'hand-over running', 'writes held here'].map((h) => el('th', null, h))));
  if (o.domains.length === 0) t.append(el('tr', null, el('td', { colspan: '6' }, 'no domain is declared (domains in the config)')));
  for (const d of o.domains) {
    for (const x of d.tenants) {
      t.append(el('tr', { 'data-domain': d.domain, 'data-tenant': x.tenant }, el('td', null, d.domain), el('td', null, x.tenant), el('td', { class: 'owner' }, x.owner), el('td', { class: 'num' }, x.epoch),
        el('td', null, x.handover ? '#' + x.handover.id + ' to the ' + x.handover.to + ', at ' + x.handover.step : '-'), el('td', { class: 'num' }, x.heldHere)));
    }
  }
  const h = $('handovers');
  h.replaceChildren(el('tr', null, ...['#', 'started', 'domain', 'tenant', 'from \u2192 to', 'status', 'write pause', 'by', 'reason'].map((x) => el('th', null, x))));
  for (const r of o.handovers) {
    const f = r.figures || {};
    h.append(el('tr', null, el('td', null, r.id), el('td', null, r.startedAt), el('td', null, r.domain), el('td', null, r.tenant), el('td', null, r.from + ' \u2192 ' + r.to),
      el('td', { class: r.status === 'aborted' ? 'bad' : '' }, r.status + (r.status === 'running' ? ' (' + r.step + ')' : '') + (r.error ? ': ' + r.error : '')),
      el('td', { class: 'num' }, f.pauseMs === undefined ? '-' : f.pauseMs + ' ms'), el('td', null, r.actor + (r.forced ? ' (forced)' : '')), el('td', null, r.reason)));
  }
}

function renderParity(rows, noise) {
  renderNoise(noise);
  const t = $('parity');
  const head = ['route', 'tenant', 'compared', 'mismatched', 'matched', 'filtered by learned noise', 'noise pairs discarded (data changed)', 'shadow errors', 'served by service', 'service errors', 'monolith', 'service'];
  t.replaceChildren(el('tr', null, ...head.map((h) => el('th', null, h))));
  if (rows.length === 0) t.append(el('tr', null, el('td', { colspan: String(head.length) }, 'no shadow or served traffic in the window')));
  for (const s of rows) {
    t.append(el('tr', { class: 'pick', 'data-route': s.route, 'data-tenant': s.tenant, on: { click: () => { mismatchesOf = { route: s.route, tenant: s.tenant }; mismatches().catch((e) => outcome(e.message, true)); } } },
      el('td', null, s.route), el('td', null, s.tenant), el('td', { class: 'num' }, s.samples),
      el('td', { class: 'num' + (s.mismatches > 0 ? ' bad' : '') }, s.mismatches + ' (' + pct(s.mismatchRate) + ')'),
      el('td', { class: 'num' }, s.matched),
      el('td', { class: 'num' + (s.filteredShare > 0.05 ? ' bad' : '') }, s.noiseFiltered + ' (' + pct(s.filteredShare) + ')'),
      el('td', { class: 'num' }, s.noiseDiscarded),
      el('td', { class: 'num' }, pct(s.shadowErrorRate)),
      el('td', { class: 'num' }, s.served), el('td', { class: 'num' }, pct(s.servedErrorRate)),
      el('td', { class: 'num' }, ms(s.primaryMsAvg)), el('td', { class: 'num' }, ms(s.shadowMsAvg))));
  }
}

/** Every route's learned noise: each path with its rate, whether it is left out, and an example of the monolith's two values. */
function renderNoise(noise) {
  const t = $('noise');
  const head = ['route', 'path', 'differed', 'left out', 'example (monolith, monolith again)'];
  t.replaceChildren(el('tr', null, ...head.map((h) => el('th', null, h))));
  const rows = (noise || []).flatMap((n) => n.learned.map((l) => ({ route: n.route, l })));
  if (rows.length === 0) t.append(el('tr', null, el('td', { colspan: String(head.length) }, 'nothing learned: the monolith answered the same whenever its data did not change')));
  for (const { route, l } of rows) {
    t.append(el('tr', { 'data-route': route, 'data-path': l.path },
      el('td', null, route), el('td', null, l.path), el('td', { class: 'num' }, l.seen + ' of ' + l.samples + ' (' + pct(l.rate) + ')'),
      el('td', { class: l.noise ? 'bad' : '' }, l.noise ? 'yes' : 'no, compared'), el('td', null, short(l.example[0]) + ' / ' + short(l.example[1]))));
  }
}

const short = (v) => {
  const text = v === undefined ? '(absent)' : JSON.stringify(v);
  return text.length > 120 ? text.slice(0, 117) + '...' : text;
};

/** The sampled mismatches of the parity row clicked (redacted as stored): what differed, field by field. */
async function mismatches() {
  const box = $('mismatches');
  if (!mismatchesOf) {
    $('mismatch-of').textContent = '';
    return box.replaceChildren(el('p', null, 'click a parity row to see its sampled mismatches'));
  }
  $('mismatch-of').textContent = 'of ' + mismatchesOf.route + ' for ' + mismatchesOf.tenant;
  const { data } = await api('/parity/mismatches?limit=10&route=' + encodeURIComponent(mismatchesOf.route) + '&tenant=' + encodeURIComponent(mismatchesOf.tenant));
  if (data.length === 0) return box.replaceChildren(el('p', null, 'none sampled'));
  box.replaceChildren(...data.map((m) => el('div', { class: 'mismatch' },
    el('p', null, el('strong', null, m.request.method + ' ' + m.request.path), ' at ' + m.at + ': monolith ' + m.primary.status + ' in ' + m.primary.ms.toFixed(1) + ' ms, service ' + m.shadow.status + ' in ' + m.shadow.ms.toFixed(1) + ' ms'),
    el('table', null,
      el('tr', null, ...['field', 'difference', 'monolith', 'service'].map((h) => el('th', null, h))),
      ...m.differences.map((d) => el('tr', null, el('td', null, d.path), el('td', null, d.kind), el('td', null, short(d.primary)), el('td', null, short(d.candidate))))),
    ...(m.suggestions || []).map((x) => el('p', { class: 'suggestion' }, 'suggested rule for routes[' + m.routeId + '].parity: ', el('code', null, x.text), ' (' + x.why + '; resolves ' + x.resolves + ')')))));
}

async function history() {
  const t = $('history');
  if (!selected) {
    $('history-route').textContent = '';
    return t.replaceChildren(el('tr', null, el('td', null, 'click a route to see its changes')));
  }
  $('history-route').textContent = 'of ' + selected;
  const { data } = await api('/routes/' + encodeURIComponent(selected) + '/history?limit=20');
  const fmt = (s) => (s ? (s.mode === 'canary' ? 'canary ' + s.percent + '%' : s.mode) : '(default)');
  t.replaceChildren(el('tr', null, ...['at', 'scope', 'change', 'by', 'source', 'reason'].map((h) => el('th', null, h))));
  for (const c of data) t.append(el('tr', null, el('td', null, c.at), el('td', null, c.scope), el('td', null, fmt(c.previous) + ' \\u2192 ' + fmt(c.next)), el('td', null, c.actor), el('td', null, c.source), el('td', null, c.reason)));
}

async function refresh() {
  try {
    const [config, routes, parity, gates, services, ownership] = await Promise.all([api('/config'), api('/routes'), api('/parity?windowMs=300000'), api('/gates'), api('/services'), api('/ownership?limit=10')]);
    const frozen = new Set(gates.controls.filter((c) => c.scope !== '*').map((c) => c.scope));
    $('main').hidden = false;
    $('links').replaceChildren(...(config.links || []).map((l) => el('a', { href: l.url, rel: 'noopener noreferrer', target: '_blank' }, l.label)));
    $('summary').replaceChildren(
      config.routes + ' routes, tenants ' + config.tenants.map((x) => x.name).join(', ') + '; config ' + (config.lastReload.ok ? 'loaded ' : 'REFUSED ') + config.lastReload.at + '; gates ',
      el('strong', { id: 'gates' }, gates.paused ? 'paused' : 'running'));
    renderRoutes(routes.data, config.tenants.map((x) => x.name), frozen);
    renderServices(services.data);
    renderOwnership(ownership);
    renderParity(parity.data, parity.noise);
    await history();
    await mismatches();
    await charts(routes.data, config.tenants.map((x) => x.name));
    await catalog();
    say('Up to date at ' + new Date().toLocaleTimeString() + ' (every 2 s).', false);
  } catch (e) {
    if (e.status === 401) {
      stop();
      $('main').hidden = true;
      return say('Not signed in: ' + e.message, true);
    }
    say('Could not refresh: ' + e.message, true);
  }
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
}

function start() {
  stop();
  if (!token) return;
  refresh();
  timer = setInterval(refresh, 2000);
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token').value.trim();
  $('token').value = '';
  sessionStorage.setItem(KEY, token);
  start();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  token = '';
  stop();
  $('main').hidden = true;
  say('Token forgotten.', false);
});
$('flip-set').addEventListener('click', flip);
for (const id of ['chart-window', 'chart-route', 'chart-tenant']) $(id).addEventListener('change', () => { chartsKey = ''; refresh(); });
$('pause').addEventListener('click', () => act('Pause gates', '/gates/pause', {}));
$('resume').addEventListener('click', () => act('Resume gates', '/gates/resume', {}));
start();
`;
