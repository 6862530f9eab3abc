// SVG charts drawn at the container's pixel width (redrawn on resize), so
// text stays legible on a phone.
import { h, s, fmtNum } from './dom.js';

const PAD = { top: 14, right: 14, bottom: 26, left: 52 };

/** niceTicks returns about count round values from at or below lo to at or above hi. */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo === hi) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || 10 * mag;
  const out = [];
  const last = Math.ceil(hi / step - 1e-9) * step;
  for (let v = Math.floor(lo / step + 1e-9) * step; v <= last + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
  .map((x) => x * 1000);

/** timeTicks returns round instants covering [lo, hi] (ms). */
export function timeTicks(lo, hi, count = 5) {
  const raw = (hi - lo) / Math.max(1, count);
  const step = TIME_STEPS.find((st) => st >= raw) || TIME_STEPS[TIME_STEPS.length - 1];
  const tz = new Date(lo).getTimezoneOffset() * 60000;
  const out = [];
  for (let t = Math.ceil((lo - tz) / step) * step + tz; t <= hi; t += step) out.push(t);
  return { ticks: out, step };
}

function fmtTick(t, step, span) {
  const d = new Date(t);
  const pad = (x) => String(x).padStart(2, '0');
  if (step >= 86400000 || span > 3 * 86400000) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (step < 60000) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * lineChart draws series of [x, y] points. spec: {series: [{name, points,
 * cls}], limit (y value or null), limitLabel, unit, xTime (x is ms),
 * xInteger (x ticks on integers only), dots (points only), height}. Points above limit are marked.
 */
export function lineChart(width, spec) {
  const height = spec.height || 200;
  const W = Math.max(200, Math.floor(width));
  const iw = W - PAD.left - PAD.right;
  const ih = height - PAD.top - PAD.bottom;
  const all = spec.series.flatMap((se) => se.points);
  const svg = s('svg', {
    class: 'chart', width: W, height, viewBox: `0 0 ${W} ${height}`, role: 'img',
    'aria-label': spec.label || 'chart',
  });
  if (all.length === 0) {
    svg.appendChild(s('text', { x: W / 2, y: height / 2, 'text-anchor': 'middle' }, 'no data in this window'));
    return svg;
  }
  let x0 = spec.xMin ?? Math.min(...all.map((p) => p[0]));
  let x1 = spec.xMax ?? Math.max(...all.map((p) => p[0]));
  if (x0 === x1) { x0 -= spec.xTime ? 30000 : 1; x1 += spec.xTime ? 30000 : 1; }
  let y0 = Math.min(...all.map((p) => p[1]));
  let y1 = Math.max(...all.map((p) => p[1]));
  if (spec.limit !== null && spec.limit !== undefined) { y0 = Math.min(y0, spec.limit); y1 = Math.max(y1, spec.limit); }
  if (spec.zero !== false) y0 = Math.min(0, y0);
  const margin = (y1 - y0) * 0.08 || Math.abs(y1) * 0.1 || 1;
  y1 += margin;
  if (y0 < 0) y0 -= margin;
  const yt = niceTicks(y0, y1, Math.max(2, Math.round(ih / 45)));
  y0 = Math.min(y0, yt[0]);
  y1 = Math.max(y1, yt[yt.length - 1]);
  const X = (x) => PAD.left + ((x - x0) / (x1 - x0)) * iw;
  const Y = (y) => PAD.top + ih - ((y - y0) / (y1 - y0)) * ih;

  for (const v of yt) {
    svg.appendChild(s('line', { class: 'grid-line', x1: PAD.left, x2: W - PAD.right, y1: Y(v), y2: Y(v) }));
    svg.appendChild(s('text', { x: PAD.left - 6, y: Y(v) + 4, 'text-anchor': 'end' }, fmtNum(v, 3)));
  }
  svg.appendChild(s('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: PAD.top + ih, y2: PAD.top + ih }));
  const nx = Math.max(2, Math.round(iw / 90));
  if (spec.xTime) {
    const { ticks, step } = timeTicks(x0, x1, nx);
    for (const t of ticks) {
      svg.appendChild(s('text', { x: X(t), y: height - 8, 'text-anchor': 'middle' }, fmtTick(t, step, x1 - x0)));
    }
  } else {
    for (const v of niceTicks(x0, x1, nx)) {
      if (v < x0 || v > x1 || (spec.xInteger && !Number.isInteger(v))) continue;
      svg.appendChild(s('text', { x: X(v), y: height - 8, 'text-anchor': 'middle' }, fmtNum(v, 2)));
    }
  }
  spec.series.forEach((se, i) => {
    const cls = se.cls || `s${(i % 6) + 1}`;
    const pts = [...se.points].sort((a, b) => a[0] - b[0]);
    if (!spec.dots && pts.length > 1) {
      const d = pts.map((p, j) => `${j ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('');
      svg.appendChild(s('path', { class: `series ${cls}`, d }, s('title', {}, se.name)));
    }
    if (spec.dots || pts.length <= 80) {
      for (const p of pts) {
        const over = spec.limit && p[1] > spec.limit;
        svg.appendChild(s('circle', {
          class: over ? 'over' : cls, cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: over ? 3.5 : (spec.dots ? 3.5 : 2),
        }, s('title', {}, `${se.name}: ${fmtNum(p[1], 3)}${spec.unit ? ' ' + spec.unit : ''}${p[2] ? ' · ' + p[2] : ''}`)));
      }
    }
  });
  if (spec.limit !== null && spec.limit !== undefined && spec.limit > 0) {
    const y = Y(spec.limit);
    svg.appendChild(s('line', { class: 'limit', x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, 'data-limit': spec.limit }));
    svg.appendChild(s('text', { class: 'limit-label', x: W - PAD.right - 2, y: y - 4, 'text-anchor': 'end' },
      spec.limitLabel || `limit ${fmtNum(spec.limit, 3)}`));
  }
  return svg;
}

/** barChart draws labelled bars: bars [{label, value, title}]. */
export function barChart(width, spec) {
  const height = spec.height || 180;
  const W = Math.max(200, Math.floor(width));
  const iw = W - PAD.left - PAD.right;
  const ih = height - PAD.top - PAD.bottom;
  const svg = s('svg', { class: 'chart', width: W, height, viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': spec.label || 'chart' });
  if (!spec.bars.length) {
    svg.appendChild(s('text', { x: W / 2, y: height / 2, 'text-anchor': 'middle' }, 'no data yet'));
    return svg;
  }
  const max = Math.max(...spec.bars.map((b) => b.value), 0);
  const yt = niceTicks(0, max || 1, 4);
  const y1 = yt[yt.length - 1] || 1;
  const Y = (v) => PAD.top + ih - (v / y1) * ih;
  for (const v of yt) {
    svg.appendChild(s('line', { class: 'grid-line', x1: PAD.left, x2: W - PAD.right, y1: Y(v), y2: Y(v) }));
    svg.appendChild(s('text', { x: PAD.left - 6, y: Y(v) + 4, 'text-anchor': 'end' }, fmtNum(v, 2)));
  }
  const slot = iw / spec.bars.length;
  const bw = Math.max(3, Math.min(42, slot * 0.7));
  const every = Math.ceil(spec.bars.length / Math.max(1, Math.floor(iw / 70)));
  spec.bars.forEach((b, i) => {
    const x = PAD.left + slot * i + (slot - bw) / 2;
    svg.appendChild(s('rect', { class: 'bar', x: x.toFixed(1), y: Y(b.value).toFixed(1), width: bw.toFixed(1), height: Math.max(0, PAD.top + ih - Y(b.value)).toFixed(1) },
      s('title', {}, b.title || `${b.label}: ${fmtNum(b.value, 3)}`)));
    if (i % every === 0) {
      svg.appendChild(s('text', { x: x + bw / 2, y: height - 8, 'text-anchor': 'middle' }, b.label));
    }
  });
  svg.appendChild(s('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: PAD.top + ih, y2: PAD.top + ih }));
  return svg;
}

/**
 * chartBox returns a container that draws draw(width) into itself now and
 * whenever its width changes; update(draw) replaces the drawing function.
 */
export function chartBox(draw, attrs = {}) {
  const box = h('div', { class: 'chart-box', ...attrs });
  let fn = draw;
  let lastW = 0;
  let frame = 0;
  const render = () => {
    frame = 0;
    const w = box.clientWidth || 320;
    lastW = w;
    box.replaceChildren(fn(w));
  };
  const ro = new ResizeObserver(() => {
    if (Math.abs((box.clientWidth || 0) - lastW) < 2 || frame) return;
    frame = requestAnimationFrame(render);
  });
  ro.observe(box);
  box.update = (draw2) => { if (draw2) fn = draw2; if (!frame) frame = requestAnimationFrame(render); };
  box.dispose = () => { ro.disconnect(); if (frame) cancelAnimationFrame(frame); };
  queueMicrotask(render);
  return box;
}

/** legend lists series names with their colours. */
export function legend(items) {
  return h('div', { class: 'legend' }, items.map((it, i) =>
    h('span', {}, h('span', { class: `sw ${it.cls || 's' + ((i % 6) + 1)}` }), it.name)));
}
