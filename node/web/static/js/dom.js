// DOM building and formatting. Text always goes in as text nodes, never as
// HTML, so values from the chain cannot inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** h builds an HTML element: h('div', {class: 'x'}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** s builds an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** replace empties el and appends children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Scales of the measures (on-chain integer = human value × scale), as in
// package chain's Measures.
export const MEASURES = [
  { name: 'flow_rate', label: 'Flow rate', unit: 'L/h', scale: 1000 },
  { name: 'volume', label: 'Volume per interval', unit: 'L', scale: 1000 },
  { name: 'conductivity', label: 'Conductivity', unit: 'µS/cm', scale: 10, quality: true },
  { name: 'suspended_solids', label: 'Suspended solids', unit: 'mg/L', scale: 10, quality: true },
  { name: 'absorbance', label: 'UV absorbance (254 nm)', unit: 'AU', scale: 1000, quality: true },
  { name: 'turbidity', label: 'Turbidity', unit: 'NTU', scale: 100, quality: true },
];

/** DROP_UNIT is the number of smallest units in one drop (chain.DropUnit). */
export const DROP_UNIT = 1_000_000;

const intFmt = new Intl.NumberFormat('en-US');

export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return intFmt.format(n);
}

/** fmtNum formats a float with up to digits decimals. */
export function fmtNum(n, digits = 2) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: digits }).format(n);
}

/** fmtDrops formats smallest units as drops. */
export function fmtDrops(units) {
  if (units === null || units === undefined) return '–';
  return fmtNum(units / DROP_UNIT, 6);
}

/** fmtLitres formats litres as m³ when large. */
export function fmtLitres(l) {
  if (l === null || l === undefined) return '–';
  if (Math.abs(l) >= 10000) return fmtNum(l / 1000, 1) + ' m³';
  return fmtNum(l, 1) + ' L';
}

export function parseTime(t) {
  if (typeof t === 'number') return t;
  if (typeof t !== 'string' || t === '') return NaN;
  return Date.parse(t);
}

/** fmtTime shows an RFC 3339 time or Unix ms as local date and time. */
export function fmtTime(t) {
  const ms = parseTime(t);
  if (!Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** ago says how long ago t was, coarsely. */
export function ago(t, now = Date.now()) {
  const ms = parseTime(t);
  if (!Number.isFinite(ms)) return '–';
  const sec = Math.round((now - ms) / 1000);
  if (sec < 0) return 'just now';
  if (sec < 60) return `${sec}s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ago`;
  return `${Math.floor(sec / 86400)}d ago`;
}

/** short abbreviates a hex string or address for display. */
export function short(hex, n = 8) {
  if (typeof hex !== 'string') return '–';
  return hex.length > n + 2 ? hex.slice(0, n) + '…' : hex;
}

/** hash renders an abbreviated hex value with the full value as tooltip. */
export function hashEl(hex, n = 10) {
  return h('code', { class: 'mono', title: hex || '' }, short(hex, n));
}

export function badge(text, kind = '') {
  return h('span', { class: ['badge', kind] }, text);
}

export function empty(text) {
  return h('div', { class: 'empty' }, text);
}

export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, String(err && err.message ? err.message : err));
}

export function stat(label, value, note, attrs = {}) {
  return h('div', { class: 'stat', ...attrs }, h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value), note ? h('div', { class: 'note' }, note) : null);
}

export function card(title, sub, ...body) {
  return h('section', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', {}, title), sub ? h('span', { class: 'sub' }, sub) : null), ...body);
}

/** table builds a table: cols [{label, num}], rows arrays of cells. */
export function table(cols, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' }, h('table', attrs,
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: c.num ? 'num' : (c.hideSm ? 'hide-sm' : null) }, c.label)))),
    h('tbody', {}, rows)));
}

/** row builds a table row; cells line up with cols for num/hideSm classes. */
export function row(cols, cells, attrs = {}) {
  return h('tr', attrs, cells.map((c, i) => h('td', { class: cols[i] && (cols[i].num ? 'num' : (cols[i].hideSm ? 'hide-sm' : null)) }, c)));
}

export function hexToBytes(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error(`not a hex string: ${String(hex).slice(0, 20)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

export function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
