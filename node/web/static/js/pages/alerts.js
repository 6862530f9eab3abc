// Alerts: the alerts so far and each new one as it happens ("alert"
// server-sent events), filterable by industry and kind.
import { get, list, live, industries } from '../api.js';
import { h, replace, fmtTime, fmtInt, fmtNum, short, badge, empty, table, row, parseTime, MEASURES } from '../dom.js';

// The rules of package node/alerts.
const KNOWN_KINDS = ['negative_flow', 'gross_range', 'limit_exceeded', 'clock_skew', 'counter_backwards',
  'missed_readings', 'flat_line', 'spike', 'leak', 'bad_signature'];

/** kindLabel names a kind for people: "limit_exceeded" → "limit exceeded". */
export const kindLabel = (k) => String(k).replace(/_/g, ' ');

/** severityClass is the badge class of a severity (critical, warning, info). */
export const severityClass = (sev) => ({ critical: 'bad', warning: 'warn', info: 'info' }[sev] || 'warn');
const MAX_ROWS = 500;

/**
 * alertFields reads an alert (node/alerts.Alert, from the list or an
 * "alert" event) into the fields shown. The fields read: id, kind (or rule,
 * type), severity, industry (or owner), industry_name (or name), device,
 * seq, time (or at), height, measure, value, threshold (or limit), message
 * (or detail, description, reason).
 */
export function alertFields(a) {
  const kind = String(a.kind || a.rule || a.type || 'alert');
  const time = a.time || a.at || null;
  const message = a.message || a.detail || a.description || a.reason || '';
  const limit = a.threshold ?? a.limit;
  const m = MEASURES.find((x) => x.name === a.measure);
  let detail = message;
  if (m && Number.isFinite(a.value)) {
    // The measure in its human unit; the rule's own message as tooltip.
    const v = `${m.label} ${fmtNum(a.value / m.scale, 3)} ${m.unit}`;
    detail = Number.isFinite(limit) && limit !== 0
      ? `${v} ${kind === 'limit_exceeded' ? 'above the permit limit' : 'against the threshold'} ${fmtNum(limit / m.scale, 3)} ${m.unit}`
      : `${v}${message ? ' · ' + message : ''}`;
  }
  return {
    id: a.id || `${kind}:${a.device || ''}:${a.seq || ''}:${time || ''}:${a.height || ''}`,
    kind, severity: a.severity || '', industry: a.industry || a.owner || '', industryName: a.industry_name || a.name || '',
    device: a.device || '', seq: a.seq, time, height: a.height, detail: detail || kindLabel(kind), message,
  };
}

const COLS = [{ label: 'Time' }, { label: 'Kind' }, { label: 'Industry' }, { label: 'Meter', hideSm: true },
  { label: 'What' }, { label: 'Block', num: true, hideSm: true }];

export async function mount(root, { query, signal }) {
  const names = new Map((await industries()).map((i) => [i.address, i.name]));
  const all = [];
  const seen = new Set();
  let fresh = new Set();
  const filter = { industry: query.get('industry') || '', kind: query.get('kind') || '' };

  const industrySel = h('select', { 'aria-label': 'Industry', name: 'industry' });
  const kindSel = h('select', { 'aria-label': 'Kind', name: 'kind' });
  const count = h('span', { class: 'muted', 'data-figure': 'alerts-count' });
  const body = h('div', {});
  const note = h('div', {});

  const fillSelects = () => {
    replace(industrySel, h('option', { value: '' }, 'All industries'),
      [...names].map(([a, n]) => h('option', { value: a, selected: a === filter.industry }, n)));
    const kinds = [...new Set([...KNOWN_KINDS, ...all.map((x) => x.kind)])].sort();
    replace(kindSel, h('option', { value: '' }, 'All kinds'), kinds.map((k) => h('option', { value: k, selected: k === filter.kind }, kindLabel(k))));
  };
  const nameOf = (a) => a.industryName || names.get(a.industry) || (a.industry ? short(a.industry, 12) : '–');
  const matches = (a) => (!filter.industry || a.industry === filter.industry) && (!filter.kind || a.kind === filter.kind);

  const render = () => {
    const shown = all.filter(matches);
    count.textContent = `${fmtInt(shown.length)} shown of ${fmtInt(all.length)}`;
    count.dataset.value = shown.length;
    if (!shown.length) {
      replace(body, empty(all.length ? 'No alert matches these filters.' : 'No alerts yet. New ones appear here as they happen.'));
      return;
    }
    replace(body, table(COLS, shown.slice(0, MAX_ROWS).map((a) => row(COLS, [
      fmtTime(a.time), badge(kindLabel(a.kind), severityClass(a.severity)),
      a.industry ? h('a', { href: `#/industry/${a.industry}` }, nameOf(a)) : nameOf(a),
      a.device ? h('code', { class: 'mono', title: a.device }, short(a.device, 8)) : '–',
      h('span', { title: a.message || null }, a.detail),
      a.height ? h('a', { href: `#/explorer/block/data/${a.height}` }, fmtInt(a.height)) : '–',
    ], { class: ['alert-row', `sev-${a.severity || 'warning'}`, fresh.has(a.id) ? 'fresh' : ''], 'data-alert-id': a.id, 'data-kind': a.kind, 'data-industry': a.industry }))));
  };

  const add = (raw, live) => {
    const a = alertFields(raw);
    if (seen.has(a.id)) return false;
    seen.add(a.id);
    if (live) fresh.add(a.id);
    all.push(a);
    return true;
  };
  const sort = () => all.sort((x, y) => (parseTime(y.time) || 0) - (parseTime(x.time) || 0));

  const setFilter = () => {
    filter.industry = industrySel.value;
    filter.kind = kindSel.value;
    const q = new URLSearchParams();
    if (filter.industry) q.set('industry', filter.industry);
    if (filter.kind) q.set('kind', filter.kind);
    history.replaceState(null, '', `#/alerts${q.toString() ? '?' + q : ''}`);
    fresh = new Set();
    render();
  };
  industrySel.addEventListener('change', setFilter);
  kindSel.addEventListener('change', setFilter);

  replace(root,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Alerts'),
      h('p', {}, 'Discharge-limit exceedances, leaks, meter faults and signs of tampering, from the rules over the finalized data chain.'))),
    h('div', { class: 'card' },
      h('div', { class: 'card-head' }, h('div', { class: 'toolbar' }, industrySel, kindSel), count),
      note, body));

  // Subscribe before loading so nothing raised meanwhile is missed.
  const pending = [];
  let loaded = false;
  const off = live.on('alert', (a) => {
    if (!loaded) { pending.push(a); return; }
    if (add(a, true)) { sort(); fillSelects(); render(); }
  });
  const res = await get('/v1/alerts', { optional: true, signal });
  if (res === null) {
    replace(note, h('p', { class: 'muted' }, 'This node serves no alert history (GET /v1/alerts); alerts raised from now on still appear live.'));
  }
  for (const a of list(res, 'alerts')) add(a, false);
  for (const a of pending) add(a, true);
  loaded = true;
  sort();
  fillSelects();
  render();
  return off;
}
