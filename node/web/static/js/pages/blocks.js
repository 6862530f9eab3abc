// Recent blocks of a lane, kept current from "block" events; shared by the
// network and explorer pages.
import { get, live } from '../api.js';
import { h, table, row, fmtTime, fmtInt, hashEl, short } from '../dom.js';

/** blockSummary turns an API block into the fields the tables show. */
export function blockSummary(b) {
  const hd = b.header;
  return {
    lane: hd.lane, height: hd.height, hash: b.hash, time: hd.time, proposer: hd.proposer,
    entries: hd.num_entries, signers: b.cert ? b.cert.sigs.map((s) => s.validator) : [],
    round: b.cert ? b.cert.round : 0,
  };
}

/** recentBlocks fetches up to n blocks of lane ending at height top. */
export async function recentBlocks(lane, top, n, signal) {
  const hs = [];
  for (let x = top; x >= 1 && hs.length < n; x--) hs.push(x);
  const blocks = await Promise.all(hs.map((x) => get(`/v1/blocks/${lane}/${x}`, { optional: true, signal })));
  return blocks.filter(Boolean).map(blockSummary);
}

const COLS = [
  { label: 'Height', num: true }, { label: 'Time' }, { label: 'Entries', num: true },
  { label: 'Signers', num: true }, { label: 'Proposer', hideSm: true }, { label: 'Hash', hideSm: true },
];

function blockRow(b, validators, fresh) {
  return row(COLS, [
    h('a', { href: `#/explorer/block/${b.lane}/${b.height}` }, fmtInt(b.height)),
    fmtTime(b.time), fmtInt(b.entries),
    `${b.signers.length}/${validators || '?'}`,
    h('code', { class: 'mono', title: b.proposer }, short(b.proposer, 8)),
    hashEl(b.hash, 12),
  ], { class: fresh ? 'fresh' : null, 'data-lane': b.lane, 'data-height': b.height, 'data-hash': b.hash });
}

/**
 * laneTable returns {el, stop} showing the latest n blocks of lane, and
 * onBlock(summary) hooks for callers that want each new block too.
 */
export function laneTable(lane, { n = 8, validators = () => 0, onBlock = () => {}, signal } = {}) {
  const body = h('tbody', {});
  const el = h('div', { class: 'table-wrap' }, h('table', { 'data-lane-table': lane },
    h('thead', {}, h('tr', {}, COLS.map((c) => h('th', { class: c.num ? 'num' : (c.hideSm ? 'hide-sm' : null) }, c.label)))), body));
  let items = []; // newest first
  let top = 0;
  const add = (b, fresh) => {
    if (items.some((x) => x.height === b.height)) return;
    top = Math.max(top, b.height);
    items.push(b);
    items.sort((x, y) => y.height - x.height);
    items = items.slice(0, n);
    body.replaceChildren(...items.map((x) => blockRow(x, validators(), fresh && x.height === b.height)));
  };
  const queue = [];
  let busy = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const ev = queue.shift();
      if (ev.height <= top) continue;
      try {
        const b = await get(`/v1/blocks/${lane}/${ev.height}`, { optional: true, signal });
        if (b) { const sum = blockSummary(b); add(sum, true); onBlock(sum); }
      } catch (err) {
        if (err.name === 'AbortError') break;
      }
    }
    busy = false;
  };
  const off = live.on('block', (ev) => {
    if (ev.lane !== lane) return;
    queue.push(ev);
    if (queue.length > n) queue.splice(0, queue.length - n);
    pump();
  });
  return {
    el,
    async load(height) {
      const blocks = await recentBlocks(lane, height, n, signal);
      for (const b of blocks) add(b, false);
      return blocks;
    },
    stop: off,
  };
}

export { table };
