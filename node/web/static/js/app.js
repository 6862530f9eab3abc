// The dashboard shell: hash routing (#/page/arg...?query), page lifecycle
// and the live-connection indicator.
import { live, get } from './api.js';
import { h, replace, errorBox } from './dom.js';
import * as network from './pages/network.js';
import * as industry from './pages/industry.js';
import * as market from './pages/market.js';
import * as alerts from './pages/alerts.js';
import * as explorer from './pages/explorer.js';

const PAGES = { network, industry, market, alerts, explorer };

// Surface policy violations (an outside request the CSP blocked) as errors
// in the console, where the browser tests look for them.
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`blocked by the content security policy: ${e.blockedURI} (${e.violatedDirective})`);
});

/** parseHash splits "#/page/a/b?k=v" into {page, args, query}. */
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [p, q = ''] = raw.split('?');
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'network', args: parts.slice(1), query: new URLSearchParams(q) };
}

let current = null; // {cleanup, controller}

async function route() {
  const view = document.getElementById('view');
  const { page, args, query } = parseHash(location.hash);
  const mod = PAGES[page];
  if (current) {
    current.controller.abort();
    try { current.cleanup && current.cleanup(); } catch (err) { console.warn('page cleanup', err); }
    current = null;
  }
  document.querySelectorAll('.nav a').forEach((a) => {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  document.body.dataset.page = page;
  delete document.body.dataset.ready;
  if (!mod) {
    replace(view, h('div', { class: 'empty' }, `No page "${page}". `, h('a', { href: '#/network' }, 'Go to the network page.')));
    document.body.dataset.ready = page;
    return;
  }
  const controller = new AbortController();
  const root = h('div', { class: 'page', 'data-page': page });
  replace(view, root);
  current = { controller, cleanup: null };
  const mine = current;
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · Waterchain`;
  try {
    const cleanup = await mod.mount(root, { args, query, signal: controller.signal });
    if (mine !== current || controller.signal.aborted) { cleanup && cleanup(); return; }
    mine.cleanup = cleanup;
  } catch (err) {
    if (err.name === 'AbortError' || controller.signal.aborted) return;
    root.appendChild(errorBox(err));
  }
  if (mine === current) document.body.dataset.ready = page;
}

function start() {
  const conn = document.getElementById('conn');
  live.onState((st) => {
    conn.dataset.state = st;
    conn.querySelector('.conn-label').textContent = st;
  });
  live.start();
  window.addEventListener('hashchange', route);
  route();
  get('/v1/status').then((st) => {
    document.getElementById('foot-chain').textContent =
      `${st.chain_id} · ${st.name || st.role} · ${st.version || ''}`;
  }).catch(() => {});
}

start();
