// Network: both lanes' heights and latest blocks, the validators and
// whether they signed recent blocks, peers, finality latency, and the
// auditor's verification status.
import { get, live, refresher } from '../api.js';
import { h, replace, stat, card, fmtInt, fmtNum, fmtTime, ago, short, badge, empty, errorBox, table, row } from '../dom.js';
import { barChart, chartBox } from '../chart.js';
import { laneTable } from './blocks.js';
import { quorum } from '../proof.js';

const RECENT = 16; // blocks (both lanes) whose signers the validator table shows

/** parseHistogram reads a Prometheus histogram from /metrics text. */
export function parseHistogram(text, name) {
  const buckets = [];
  let sum = 0, count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    let m = line.match(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} ([0-9.eE+-]+)`));
    if (m) { buckets.push({ le: m[1] === '+Inf' ? Infinity : parseFloat(m[1]), n: parseFloat(m[2]) }); continue; }
    m = line.match(new RegExp(`^${name}_sum(?:\\{[^}]*\\})? ([0-9.eE+-]+)`));
    if (m) { sum = parseFloat(m[1]); continue; }
    m = line.match(new RegExp(`^${name}_count(?:\\{[^}]*\\})? ([0-9.eE+-]+)`));
    if (m) count = parseFloat(m[1]);
  }
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, sum, count };
}

/** quantile estimates a quantile from cumulative buckets, as Prometheus' histogram_quantile. */
export function quantile(hist, q) {
  const { buckets, count } = hist;
  if (!count || !buckets.length) return NaN;
  const rank = q * count;
  let prevLe = 0, prevN = 0;
  for (const b of buckets) {
    if (b.n >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevN)) / Math.max(1e-12, b.n - prevN);
    }
    prevLe = b.le; prevN = b.n;
  }
  return prevLe;
}

/**
 * laneNote says when a lane's last block was made and why it is quiet, from
 * its /v1/status entry: an idle lane makes a block when entries wait, at a
 * settlement boundary, or after the genesis idle interval
 * (next_block_due); one long past that time with no block is overdue.
 */
export function laneNote(l, now = Date.now()) {
  const last = l.time ? `last block ${ago(l.time, now)} · round ${l.round ?? 0}` : 'no block yet';
  let state = null;
  if (l.overdue) {
    state = h('span', { 'data-lane-state': 'overdue', title: 'No block although one was due: too few validators are up, or this node is cut off from them.' },
      badge('overdue', 'bad'), ` a block was due ${fmtTime(l.next_block_due)}`);
  } else if (l.quiet_reason) {
    const due = fmtTime(l.next_block_due);
    const today = fmtTime(new Date(now).toISOString()).slice(0, 10);
    state = h('span', { 'data-lane-state': 'idle', title: l.quiet_reason },
      badge('idle', 'ok'), ` next block by ${due.startsWith(today) ? due.slice(11) : due} at the latest`);
  } else if (l.next_block_due) {
    state = h('span', { 'data-lane-state': 'busy', title: 'Entries are waiting or a block is due: the lane is making one.' }, badge('making a block', 'info'));
  }
  return state ? [last, h('br', {}), state] : last;
}

const fmtSec = (s) => (Number.isFinite(s) ? (s < 1 ? `${fmtNum(s * 1000, 0)} ms` : `${fmtNum(s, 2)} s`) : '–');

export async function mount(root, { signal }) {
  const st = await get('/v1/status', { signal });
  st.validators = st.validators || [];
  const validators = () => current.validators.length;
  let current = st;
  const recent = []; // [{lane, height, signers}] newest first

  const figures = h('div', { class: 'stats' });
  const validatorsBox = h('div', {});
  const auditBox = h('div', {});
  const latencyBox = h('div', {});
  const latencyChart = chartBox((w) => barChart(w, { bars: [], label: 'finality latency distribution' }));

  const noteBlock = (b) => {
    recent.unshift({ lane: b.lane, height: b.height, signers: new Set(b.signers), proposer: b.proposer, time: b.time });
    recent.sort((a, b2) => Date.parse(b2.time) - Date.parse(a.time));
    recent.length = Math.min(recent.length, RECENT);
    renderValidators();
  };
  const lanes = {
    data: laneTable('data', { validators, onBlock: noteBlock, signal }),
    tx: laneTable('tx', { validators, onBlock: noteBlock, signal }),
  };

  function renderFigures() {
    const ls = current.lanes || {};
    const d = ls.data || {}, t = ls.tx || {};
    replace(figures,
      stat('Data lane height', fmtInt(d.height), laneNote(d),
        { 'data-figure': 'data-height', 'data-value': d.height, 'data-hash': d.hash }),
      stat('Tx lane height', fmtInt(t.height), laneNote(t),
        { 'data-figure': 'tx-height', 'data-value': t.height, 'data-hash': t.hash }),
      stat('Peers', fmtInt(current.peers), current.syncing ? 'syncing…' : 'in sync', { 'data-figure': 'peers', 'data-value': current.peers }),
      stat('Validators', fmtInt(current.validators.length), `quorum ${quorum(current.validators.length)}`,
        { 'data-figure': 'validators', 'data-value': current.validators.length }),
      stat('Waiting', fmtInt((current.mempool || {}).readings), `readings · ${fmtInt((current.mempool || {}).txs)} txs`),
    );
  }

  function renderValidators() {
    if (!current.validators.length) { replace(validatorsBox, empty('No validators reported.')); return; }
    const cols = [{ label: 'Validator' }, { label: `Last ${recent.length} blocks` }, { label: 'Signed', num: true }];
    const rows = current.validators.map((v, i) => {
      const signed = recent.filter((b) => b.signers.has(v)).length;
      const mine = v === current.node_key;
      return row(cols, [
        h('span', {}, h('code', { class: 'mono', title: v }, `#${i + 1} ${short(v, 10)}`), mine ? ' ' : null, mine ? badge('this node', 'info') : null),
        h('div', { class: 'sigs' }, recent.map((b) => h('span', {
          class: ['sig', b.signers.has(v) ? 'yes' : 'no'],
          title: `${b.lane}/${b.height}: ${b.signers.has(v) ? 'signed' : 'did not sign'}${b.proposer === v ? ' (proposer)' : ''}`,
        }))),
        h('span', { 'data-signed': signed }, recent.length ? `${signed}/${recent.length}` : '–'),
      ], { 'data-validator': v });
    });
    replace(validatorsBox, table(cols, rows));
  }

  async function renderAudit() {
    // An auditor's own status is its verified heights and what its
    // GET /v1/audit reports; only auditors serve that route (a validator
    // answers 404), so other nodes do not ask.
    const audit = current.role === 'auditor' ? await get('/v1/audit', { signal }).catch(() => null) : null;
    const items = [];
    if (current.role === 'auditor') {
      items.push(h('p', {}, badge(current.syncing ? 'catching up' : 'verified', current.syncing ? 'warn' : 'ok'), ' ',
        'This node is an auditor: it re-verifies every block from genesis (signatures, hash links, certificates, state) before storing it.'));
      items.push(h('dl', { class: 'kv', 'data-audit': 'self' },
        h('dt', {}, 'Verified data blocks'), h('dd', { 'data-figure': 'audit-data' }, fmtInt(current.lanes.data.height)),
        h('dt', {}, 'Verified tx blocks'), h('dd', { 'data-figure': 'audit-tx' }, fmtInt(current.lanes.tx.height)),
        h('dt', {}, 'Latest verified'), h('dd', {}, fmtTime(current.lanes.data.time))));
    }
    if (audit) {
      const ok = audit.ok !== false && !audit.error;
      const ver = audit.verified || {};
      items.push(h('p', {}, badge(ok ? 'verified' : 'problem', ok ? 'ok' : 'bad'), ' ', audit.message || audit.error || ''));
      items.push(h('dl', { class: 'kv', 'data-audit': 'route' },
        h('dt', {}, 'Verified data blocks'), h('dd', {}, fmtInt(ver.data ?? audit.data_height)),
        h('dt', {}, 'Verified tx blocks'), h('dd', {}, fmtInt(ver.tx ?? audit.tx_height)),
        audit.checked_at ? [h('dt', {}, 'Checked'), h('dd', {}, fmtTime(audit.checked_at))] : null,
        audit.auditor ? [h('dt', {}, 'Auditor'), h('dd', {}, h('code', { class: 'mono' }, short(audit.auditor, 16)))] : null));
    }
    if (!items.length) {
      items.push(empty('This node is a validator and serves no audit status (GET /v1/audit). Open the dashboard of an auditor node — `waterchain devnet` prints its address — or run `waterchain audit verify`.'));
    }
    replace(auditBox, items);
  }

  async function renderLatency() {
    let text = '';
    try {
      const res = await fetch('/metrics', { signal, cache: 'no-store' });
      if (res.ok) text = await res.text();
    } catch (err) {
      if (err.name === 'AbortError') return;
    }
    const hist = parseHistogram(text, 'waterchain_finality_latency_seconds');
    if (!hist.count) {
      replace(latencyBox, empty('No reading has been finalized through this node yet (latency is measured from a reading\'s arrival at this node to its block\'s finality).'));
      latencyChart.update((w) => barChart(w, { bars: [], label: 'finality latency distribution' }));
      return;
    }
    const p50 = quantile(hist, 0.5), p99 = quantile(hist, 0.99);
    replace(latencyBox, h('div', { class: 'stats' },
      stat('p50', fmtSec(p50), 'median', { 'data-figure': 'latency-p50', 'data-value': p50 }),
      stat('p99', fmtSec(p99), '99th percentile', { 'data-figure': 'latency-p99', 'data-value': p99 }),
      stat('Mean', fmtSec(hist.sum / hist.count), `${fmtInt(hist.count)} readings`, { 'data-figure': 'latency-count', 'data-value': hist.count })));
    const bars = [];
    let prev = 0, prevLe = 0;
    for (const b of hist.buckets) {
      if (b.le === Infinity) break;
      if (b.n - prev > 0 || bars.length) bars.push({ label: fmtSec(b.le), value: b.n - prev, title: `${fmtSec(prevLe)}–${fmtSec(b.le)}: ${fmtInt(b.n - prev)} readings` });
      prev = b.n; prevLe = b.le;
      if (b.n >= hist.count) break;
    }
    latencyChart.update((w) => barChart(w, { bars, label: 'finality latency distribution', height: 150 }));
  }

  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Network'),
        h('p', {}, `${st.chain_id} · this node: ${st.name || short(st.node_key, 10)} (${st.role}) · genesis ${short(st.genesis_hash, 12)}`))),
    figures,
    h('div', { class: 'grid' },
      h('div', { class: 'span-6' }, card('Data lane', 'readings', lanes.data.el)),
      h('div', { class: 'span-6' }, card('Transaction lane', 'transfers, market, permits', lanes.tx.el)),
      h('div', { class: 'span-6' }, card('Validators', 'signed the commit certificate of recent blocks', validatorsBox)),
      h('div', { class: 'span-6' }, card('Auditor', 'independent re-verification', auditBox)),
      h('div', { class: 'span-12' }, card('Finality latency', 'reading accepted at this node → block final', latencyBox, latencyChart)),
    ));

  renderFigures();
  renderValidators();
  const [dataBlocks, txBlocks] = await Promise.all([
    lanes.data.load(st.lanes.data ? st.lanes.data.height : 0),
    lanes.tx.load(st.lanes.tx ? st.lanes.tx.height : 0),
  ]);
  for (const b of [...dataBlocks, ...txBlocks]) {
    recent.push({ lane: b.lane, height: b.height, signers: new Set(b.signers), proposer: b.proposer, time: b.time });
  }
  recent.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  recent.length = Math.min(recent.length, RECENT);
  renderValidators();
  await Promise.all([renderAudit(), renderLatency()]).catch((err) => root.appendChild(errorBox(err)));

  // Heights move with every block event; peers, latency and the audit have
  // no events of their own and are polled.
  const offBlock = live.on('block', (ev) => {
    const lane = current.lanes[ev.lane];
    if (lane && ev.height > lane.height) {
      // The lane's schedule moves with its block: until the next status
      // poll it is shown without one.
      current.lanes[ev.lane] = { height: ev.height, hash: ev.hash, time: ev.time, round: 0 };
      renderFigures();
    }
  });
  const stopStatus = refresher(async () => {
    const s2 = await get('/v1/status', { signal });
    s2.validators = s2.validators || [];
    for (const k of ['data', 'tx']) {
      if (current.lanes[k] && s2.lanes[k] && s2.lanes[k].height < current.lanes[k].height) s2.lanes[k] = current.lanes[k];
    }
    current = s2;
    renderFigures();
    renderValidators();
  }, { pollMs: 5000, pollWhenLive: true });
  const slow = setInterval(() => { renderLatency(); renderAudit(); }, 5000);
  return () => {
    offBlock(); stopStatus(); clearInterval(slow);
    lanes.data.stop(); lanes.tx.stop(); latencyChart.dispose();
  };
}
