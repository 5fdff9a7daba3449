/**
 * The dashboard's Streams page: every stream of the catalog (each captured
 * table's changes, each domain event) with its owner domain, contract
 * version, producer, topics and retention, and each consumer with its lag
 * now beside its freshness objective. Read through the admin API's
 * GET /catalog (which asks `strangler catalog serve` at dashboard.catalogUrl);
 * text only, under the page's CSP.
 */
export const CATALOG_HTML = `
  <section id="catalog-section"><h2>Streams</h2><p id="catalog-note"></p><table id="catalog"></table></section>`;

export const CATALOG_SCRIPT = `
let catalogAt = 0;

async function catalog() {
  if (Date.now() - catalogAt < 5000) return;
  catalogAt = Date.now();
  const t = $('catalog');
  let c;
  try {
    c = await api('/catalog');
  } catch (e) {
    $('catalog-note').textContent = e.status === 404 ? 'No catalog: set dashboard.catalogUrl to where strangler catalog serve listens.' : 'The catalog did not answer: ' + e.message;
    return t.replaceChildren();
  }
  $('catalog-note').textContent = (c.kafka ? c.kafka + '; ' : '') + 'as of ' + c.at;
  const retention = (ms) => (ms === null ? 'unknown' : ms < 0 ? 'for ever' : (ms / 86400000).toFixed(1) + ' days');
  t.replaceChildren(el('tr', null, ...['stream', 'kind', 'owner', 'version', 'producer', 'topics', 'retention', 'consumers: lag now (objective)'].map((h) => el('th', null, h))));
  for (const s of c.data) {
    const consumers = s.consumers.length === 0 ? 'none declared' : el('span', null, ...s.consumers.flatMap((x) => [
      el('span', { class: x.caughtUp === false ? 'bad' : '', 'data-consumer': x.name }, x.name + ': ' + (x.lag === null ? 'lag unknown' : x.lag === 0 ? 'caught up' : x.lag + ' behind') + (x.freshnessMs ? ' (fresh within ' + x.freshnessMs + ' ms)' : '')), ' ']));
    t.append(el('tr', { 'data-stream': s.stream }, el('td', null, s.stream), el('td', null, s.kind), el('td', null, s.owner || '-'), el('td', { class: 'num' }, 'v' + s.version),
      el('td', null, s.producer), el('td', null, s.topics.join(', ') || '(none yet)'), el('td', null, retention(s.retentionMs)), el('td', null, consumers)));
  }
}
`;
