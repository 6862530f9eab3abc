// Industry: each measure over time with the permit's limit drawn on it,
// water used against allowance this period, drops balance and settlement
// history, alerts, and every version of the permit.
import { get, list, industries, refresher } from '../api.js';
import {
  h, replace, stat, card, fmtInt, fmtNum, fmtDrops, fmtLitres, fmtTime, short, badge, empty, errorBox,
  table, row, MEASURES, parseTime,
} from '../dom.js';
import { lineChart, barChart, chartBox, legend } from '../chart.js';
import { devicesOf } from './devices.js';
import { alertFields, kindLabel, severityClass } from './alerts.js';

const WINDOWS = [
  { key: 'period', label: 'this period', ms: null },
  { key: '5m', label: '5 min', ms: 5 * 60e3 }, { key: '1h', label: '1 hour', ms: 3600e3 },
  { key: '24h', label: '24 hours', ms: 86400e3 }, { key: '7d', label: '7 days', ms: 7 * 86400e3 },
];
const SETTLEMENT_HISTORY = 12;

/** periodStart parses a period label ("2026-11" or "2026-11-29T10:05", UTC) to ms. */
export function periodStart(label) {
  let m = /^(\d{4})-(\d{2})$/.exec(label || '');
  if (m) return Date.UTC(+m[1], +m[2] - 1, 1);
  m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(label || '');
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  return NaN;
}

export async function mount(root, { args, query, signal }) {
  if (!args[0]) return mountList(root, signal);
  return mountIndustry(root, args[0], query, signal);
}

async function mountList(root, signal) {
  const grid = h('div', { class: 'tiles' });
  replace(root, h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Industries'),
    h('p', {}, 'Each industry runs a validator and meters its discharge. Pick one to see its measures, allowance and drops.'))), grid);
  const render = async () => {
    const inds = await industries();
    if (!inds.length) { replace(grid, empty('No industries on this network.')); return; }
    replace(grid, inds.map((ind) => {
      const allowance = ind.allowance_after_trades ?? ind.allowance;
      return h('a', { class: 'card tile', href: `#/industry/${ind.address}`, 'data-industry': ind.address },
        h('strong', {}, ind.name), h('code', { class: 'mono muted' }, short(ind.address, 14)),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Drops'), h('dd', { 'data-figure': 'balance', 'data-value': ind.balance }, fmtDrops(ind.balance)),
          h('dt', {}, 'Allowance'), h('dd', {}, `${fmtLitres(allowance)} · ${ind.period_label}`)));
    }));
  };
  await render();
  return refresher(render, { events: ['block'], filter: (ev) => ev.lane === 'tx', minGap: 3000 });
}

async function mountIndustry(root, address, query, signal) {
  let ind = await get(`/v1/industries/${address}`, { optional: true, signal });
  if (!ind) {
    replace(root, empty(`No industry at ${address}. `), h('p', {}, h('a', { href: '#/industry' }, 'All industries')));
    return null;
  }
  const win = WINDOWS.find((w) => w.key === query.get('window')) || WINDOWS[2];
  // windowStart is the first instant charted: a fixed span back from now,
  // or the open period's start.
  const windowStart = () => (win.ms === null ? periodStart(ind.period_label) || Date.now() - 3600e3 : Date.now() - win.ms);
  const devices = await devicesOf(ind, signal);
  const readings = new Map(devices.map((d) => [d, []])); // device -> readings, ascending time
  const lastTime = new Map(); // device -> last reading time (ms)
  let usedML = 0;
  let usedPeriod = null;

  const figures = h('div', { class: 'stats' });
  const usage = h('div', {});
  const chartsEl = h('div', { class: 'charts' });
  const settleBox = h('div', {});
  const settleChart = chartBox((w) => barChart(w, { bars: [] }));
  const alertsBox = h('div', {});
  const permitBox = h('div', {});
  const charts = MEASURES.map((m) => {
    const box = chartBox((w) => lineChart(w, { series: [], label: m.label }), { 'data-measure': m.name });
    const limitNote = h('span', { class: 'sub' });
    const el = h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, `${m.label} (${m.unit})`), limitNote), box);
    chartsEl.appendChild(el);
    return { m, box, limitNote };
  });
  const chartLegend = h('div', {});

  const windowPicker = h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, 'Window'),
    WINDOWS.map((w) => h('a', { class: ['badge', w === win ? 'info' : ''], href: `#/industry/${address}?window=${w.key}` }, w.label)));

  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { 'data-industry-name': ind.name }, ind.name),
        h('p', {}, h('code', { class: 'mono' }, ind.address), ` · ${devices.length} meter${devices.length === 1 ? '' : 's'}`)),
      h('a', { href: '#/industry' }, '← all industries')),
    figures, usage,
    h('div', { class: 'card-head' }, h('h2', {}, 'Measures'), windowPicker),
    chartLegend, chartsEl,
    h('div', { class: 'grid' },
      h('div', { class: 'span-8' }, card('Settlements', 'drops minted per settled period', settleChart, settleBox)),
      h('div', { class: 'span-4' }, card('Alerts', 'this industry', alertsBox))),
    card('Permit', 'every version, newest first: alerts and settlements judge each reading by the one in force then', permitBox));

  const renderPermits = () => {
    const limitsText = (limits) => MEASURES.filter((m) => m.quality && limits && limits[m.name])
      .map((m) => `${m.label.toLowerCase()} ≤ ${fmtNum(limits[m.name] / m.scale, 3)} ${m.unit}`).join(', ') || 'no discharge limits';
    const cols = [{ label: 'In force' }, { label: 'Allowance', num: true }, { label: 'Discharge limits' }];
    const rows = [];
    if (ind.next_permit) {
      rows.push(row(cols, ['from the next period', fmtLitres(ind.next_permit.allowance), limitsText(ind.next_permit.limits)], { 'data-permit': 'next' }));
    }
    for (const p of [...(ind.permit_history || [])].reverse()) {
      rows.push(row(cols, [p.from_height ? `period ${p.period} (from tx block ${fmtInt(p.from_height)})` : 'from genesis',
        fmtLitres(p.permit.allowance), limitsText(p.permit.limits)], { 'data-permit': p.from_height }));
    }
    replace(permitBox, rows.length ? table(cols, rows) : empty('No permit on record.'));
  };

  const renderFigures = () => {
    const allowance = ind.allowance_after_trades ?? ind.allowance;
    const usedL = usedML / 1000;
    replace(figures,
      stat('Drops balance', fmtDrops(ind.balance), `${fmtInt(ind.balance)} units`, { 'data-figure': 'balance', 'data-value': ind.balance }),
      stat('Allowance this period', fmtLitres(allowance), `period ${ind.period_label}`, { 'data-figure': 'allowance', 'data-value': allowance }),
      stat('Water used', fmtLitres(usedL), allowance ? `${fmtNum((100 * usedL) / allowance, 1)} % of allowance` : 'no allowance',
        { 'data-figure': 'used', 'data-value': usedML }),
      stat('Traded', `+${fmtLitres(ind.bought)} / −${fmtLitres(ind.sold)}`, `${fmtLitres(ind.escrow)} on offer`));
    const pct = allowance ? Math.min(100, (100 * usedL) / allowance) : 0;
    const meter = h('div', { class: ['meter', usedL > allowance ? 'over' : ''], role: 'progressbar', 'aria-valuenow': Math.round(pct), 'aria-valuemin': 0, 'aria-valuemax': 100 },
      h('span', {}));
    meter.firstChild.style.width = `${pct}%`;
    replace(usage, h('div', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Water used against allowance'),
        h('span', { class: 'sub' }, `${fmtLitres(usedL)} of ${fmtLitres(allowance)} since ${fmtTime(periodStart(ind.period_label))}`)),
      meter));
  };

  const renderCharts = () => {
    const now = Date.now();
    const from = windowStart();
    replace(chartLegend, legend(devices.map((d) => ({ name: `meter ${short(d, 8)}` }))));
    for (const { m, box, limitNote } of charts) {
      const limitRaw = m.quality && ind.permit && ind.permit.limits ? ind.permit.limits[m.name] || 0 : 0;
      const limit = limitRaw ? limitRaw / m.scale : null;
      limitNote.textContent = limit ? `permit limit ${fmtNum(limit, 3)} ${m.unit}` : (m.quality ? 'no limit in the permit' : '');
      box.dataset.limit = limit ?? '';
      const series = devices.map((d) => ({
        name: `meter ${short(d, 8)}`,
        points: readings.get(d).filter((r) => r.t >= from).map((r) => [r.t, r[m.name] / m.scale, `seq ${r.seq}`]),
      }));
      box.dataset.points = series.reduce((n, se) => n + se.points.length, 0);
      box.update((w) => lineChart(w, { series, limit, unit: m.unit, xTime: true, xMin: from, xMax: now, label: m.label, height: 190 }));
    }
  };

  // Readings since the later of the window start and the period start are
  // fetched once, then only newer ones on each data block.
  const fetchReadings = async () => {
    const ps = periodStart(ind.period_label);
    const from = Math.min(windowStart(), Number.isFinite(ps) ? ps : Infinity);
    if (usedPeriod !== ind.period_label) {
      // A new period: usage restarts, and every device is read from its start.
      usedPeriod = ind.period_label;
      usedML = 0;
      lastTime.clear();
      for (const d of devices) readings.set(d, []);
    }
    await Promise.all(devices.map(async (d) => {
      const since = lastTime.has(d) ? lastTime.get(d) + 1 : from;
      const res = await get(`/v1/readings?device=${d}&from=${encodeURIComponent(new Date(since).toISOString())}&limit=10000`, { optional: true, signal });
      for (const r of list(res, 'readings')) {
        const t = parseTime(r.time);
        if (!(t > (lastTime.get(d) ?? -Infinity))) continue;
        lastTime.set(d, t);
        readings.get(d).push({ ...r, t });
        if (Number.isFinite(ps) && t >= ps && r.volume > 0) usedML += r.volume;
      }
      const keep = windowStart();
      const arr = readings.get(d);
      let cut = 0;
      while (cut < arr.length && arr[cut].t < keep) cut++;
      if (cut) arr.splice(0, cut);
    }));
  };

  const renderSettlements = async () => {
    const last = (ind.period || 0) - 1;
    const periods = [];
    for (let p = last; p >= 0 && periods.length < SETTLEMENT_HISTORY; p--) periods.push(p);
    const answers = await Promise.all(periods.map((p) => get(`/v1/settlements?period=${p}`, { optional: true, signal }).catch(() => null)));
    const mine = answers.map((a) => list(a, 'settlements').find((x) => x.industry === address)).filter(Boolean).reverse();
    settleChart.update((w) => barChart(w, {
      bars: mine.map((x) => ({ label: x.label.slice(-5), value: x.reward / 1e6, title: `${x.label}: ${fmtDrops(x.reward)} drops` })),
      label: 'drops minted per period', height: 160,
    }));
    settledUpTo = mine.length ? mine[mine.length - 1].period : -1;
    if (!mine.length) {
      replace(settleBox, empty(last < 0 ? `No period settled yet; the first closes at the end of ${ind.period_label}.`
        : 'No settlement records for this industry yet: a period is settled once the reading window after its end has passed.'));
      return;
    }
    const cols = [{ label: 'Period' }, { label: 'Used', num: true }, { label: 'Allowance', num: true },
      { label: 'Compliance', num: true }, { label: 'Delivery', num: true }, { label: 'Minted', num: true }, { label: 'Notes', hideSm: true }];
    replace(settleBox, table(cols, [...mine].reverse().map((x) => row(cols, [
      x.label, fmtLitres(x.used_ml / 1000), fmtLitres(x.allowance_after_trades),
      `${fmtNum(x.compliance_permille / 10, 1)} %`, `${fmtNum(x.delivery_permille / 10, 1)} %`,
      fmtDrops(x.reward),
      (x.reasons || []).join('; ') || (x.overused ? 'over allowance' : ''),
    ], { 'data-period': x.period, 'data-reward': x.reward }))), settlementInputs(mine[mine.length - 1]));
  };

  let settledUpTo = -1; // newest period with a settlement shown
  const renderAlerts = async () => {
    const res = await get(`/v1/alerts?industry=${address}`, { optional: true, signal }).catch((err) => { if (err.name === 'AbortError') throw err; return null; });
    if (res === null) { replace(alertsBox, empty('This node serves no alerts yet.')); return; }
    const mine = list(res, 'alerts').map(alertFields).filter((a) => !a.industry || a.industry === address || devices.includes(a.device));
    if (!mine.length) { replace(alertsBox, empty('No alerts. ✓')); return; }
    mine.sort((x, y) => (parseTime(y.time) || 0) - (parseTime(x.time) || 0));
    replace(alertsBox, h('ul', { class: 'alert-list' }, mine.slice(0, 8).map((a) =>
      h('li', { 'data-alert-id': a.id }, h('div', {}, badge(kindLabel(a.kind), severityClass(a.severity)), ' ',
        h('span', { class: 'muted' }, `${fmtTime(a.time)} · meter ${short(a.device, 8)}`)),
      h('div', { title: a.message || null }, a.detail)))),
    mine.length > 8 ? h('p', {}, h('a', { href: `#/alerts?industry=${address}` }, `all ${mine.length} alerts`)) : null);
  };

  renderFigures();
  renderPermits();
  try {
    await fetchReadings();
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    usage.appendChild(errorBox(err));
  }
  renderFigures();
  renderCharts();
  await Promise.all([renderSettlements(), renderAlerts()]);

  // Data blocks bring readings, tx blocks balance and allowance changes.
  const stopData = refresher(async () => { await fetchReadings(); renderFigures(); renderCharts(); },
    { events: ['block'], filter: (ev) => ev.lane === 'data' && ev.entries > 0, minGap: 1500 });
  let lastPeriod = ind.period;
  const stopTx = refresher(async () => {
    const next = await get(`/v1/industries/${address}`, { optional: true, signal });
    if (!next) return;
    ind = next;
    renderFigures();
    renderPermits();
    if (ind.period !== lastPeriod) { lastPeriod = ind.period; await fetchReadings(); renderCharts(); await renderSettlements(); }
    // A closed period is settled a reading window after its end, by a later tx block.
    else if (settledUpTo < ind.period - 1) await renderSettlements();
  }, { events: ['block'], filter: (ev) => ev.lane === 'tx', minGap: 2000 });
  const stopAlerts = refresher(renderAlerts, { events: ['alert'], minGap: 2000, pollMs: 15000 });
  const tick = setInterval(renderCharts, 30000); // slide the window
  return () => {
    stopData(); stopTx(); stopAlerts(); clearInterval(tick);
    settleChart.dispose(); charts.forEach((c) => c.box.dispose());
  };
}

/**
 * settlementInputs shows every input of the reward formula of one
 * settlement record, so that it can be recomputed by hand (README, "The
 * economy"): A, U, per meter expected and delivered, per limited measure
 * the readings within the limit, saved (and the cap) or over, gross, c, d.
 */
function settlementInputs(x) {
  const fig = (key, value) => ({ 'data-settle': key, 'data-value': value });
  const line = (key, value, label, text) => [h('dt', {}, label), h('dd', fig(key, value), text)];
  const meterCols = [{ label: 'Meter' }, { label: 'Active in the period', hideSm: true }, { label: 'Expected', num: true },
    { label: 'Readings', num: true }, { label: 'Delivered', num: true }, { label: 'Used', num: true }];
  const meters = (x.meters || []).map((m) => row(meterCols, [
    h('code', { class: 'mono', title: m.device }, short(m.device, 10)),
    m.to ? `${fmtTime(m.from)} – ${fmtTime(m.to)}` : 'not active (readings count for volume and limits only)',
    fmtInt(m.expected), fmtInt(m.readings), fmtInt(m.delivered), fmtLitres(m.used_ml / 1000),
  ], { 'data-meter': m.device, 'data-expected': m.expected, 'data-readings': m.readings, 'data-delivered': m.delivered, 'data-used-ml': m.used_ml }));
  const measureCols = [{ label: 'Measure' }, { label: 'Limit', num: true }, { label: 'Within / readings', num: true }, { label: 'Share', num: true }];
  const measures = (x.compliance || []).map((c) => row(measureCols, [
    c.measure, fmtInt(c.limit), `${fmtInt(c.within)} / ${fmtInt(c.readings)}`, `${fmtInt(c.permille)} ‰`,
  ], { 'data-compliance': c.measure, 'data-within': c.within, 'data-readings': c.readings, 'data-permille': c.permille }));
  const volume = x.over_litres
    ? line('over', x.over_litres, 'Over', `⌈(U − 1000·A) / 1000⌉ = ${fmtInt(x.over_litres)} L`)
    : line('saved', x.saved_litres, 'Saved', `min(⌊(1000·A − U) / 1000⌋, cap ${fmtInt(x.saved_cap_litres)} L) = ${fmtInt(x.saved_litres)} L`);
  return h('div', { class: 'settlement-inputs', 'data-settlement': x.period },
    h('h3', {}, `How ${x.label} was settled`),
    h('p', { class: 'muted' }, `Closed by tx block ${fmtInt(x.closed_height)}, settled by tx block ${fmtInt(x.height)} counting every reading of the period in data blocks up to ${fmtInt(x.data_height)} (${fmtTime(x.data_time)}).`),
    h('dl', { class: 'kv' },
      line('A', x.allowance_after_trades, 'A (allowance after trades)', `${fmtInt(x.allowance)} + ${fmtInt(x.bought)} − ${fmtInt(x.sold)} = ${fmtInt(x.allowance_after_trades)} L`),
      line('U', x.used_ml, 'U (volume used)', `${fmtInt(x.used_ml)} mL`),
      volume,
      line('gross', x.gross, 'Gross', `${fmtDrops(x.gross)} drops`),
      line('E', x.expected, 'E (expected readings)', fmtInt(x.expected)),
      line('D', x.delivered, 'D (delivered, at most expected per meter)', fmtInt(x.delivered)),
      line('d', x.delivery_permille, 'd (delivery)', `⌊1000·D / E⌋ = ${fmtInt(x.delivery_permille)} ‰`),
      line('c', x.compliance_permille, 'c (compliance)', `${fmtInt(x.compliance_permille)} ‰ (worst limited measure; 0 without readings)`),
      line('reward', x.reward, 'Minted', `${fmtDrops(x.reward)} drops${x.reward ? ' = ⌊gross · c · d / 10⁶⌋' : ''}`)),
    meters.length ? table(meterCols, meters) : empty('No meter was active or reported in the period.'),
    measures.length ? table(measureCols, measures) : h('p', { class: 'muted' }, 'The permit of the period limits no measure.'));
}
