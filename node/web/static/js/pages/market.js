// Market: open allowance offers, recent trades and a price chart.
// Offer prices are smallest drop units per litre; shown as drops per m³.
import { get, list, industries, refresher } from '../api.js';
import { h, replace, stat, card, fmtInt, fmtNum, fmtLitres, short, empty, table, row, parseTime, hashEl, DROP_UNIT } from '../dom.js';
import { lineChart, chartBox, legend } from '../chart.js';

/** perM3 converts a price in smallest units per litre to drops per m³. */
export const perM3 = (price) => (price * 1000) / DROP_UNIT;

/**
 * tradeFields reads a trade. The fields read: offer (or offer_id), buyer,
 * seller, volume (litres), price (smallest units per litre; or amount /
 * volume), height, time, tx (or hash, id).
 */
export function tradeFields(t) {
  const volume = t.volume ?? t.litres ?? 0;
  const price = t.price ?? (t.amount && volume ? t.amount / volume : 0);
  return {
    id: t.tx || t.hash || t.id || `${t.offer || t.offer_id}:${t.height}:${t.buyer}`,
    offer: t.offer || t.offer_id || '', buyer: t.buyer || '', seller: t.seller || '',
    volume, price, height: t.height, time: t.time || null,
  };
}

export async function mount(root, { signal }) {
  const figures = h('div', { class: 'stats' });
  const offersBox = h('div', {});
  const tradesBox = h('div', {});
  const chartNote = h('span', { class: 'sub' });
  const chart = chartBox((w) => lineChart(w, { series: [] }));
  const chartLegend = h('div', {});

  replace(root,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Market'),
      h('p', {}, 'Industries sell unused allowance of the current period for drops; an accepted offer moves allowance and drops atomically.'))),
    figures,
    h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Price'), chartNote), chart, chartLegend),
    h('div', { class: 'grid' },
      h('div', { class: 'span-6' }, card('Open offers', 'cheapest first', offersBox)),
      h('div', { class: 'span-6' }, card('Recent trades', 'newest first', tradesBox))));

  const name = (names, a) => (names.get(a) ? h('a', { href: `#/industry/${a}` }, names.get(a)) : h('code', { class: 'mono' }, short(a, 12)));

  const render = async () => {
    const [offersRes, tradesRes, inds] = await Promise.all([
      get('/v1/market/offers', { optional: true, signal }),
      get('/v1/market/trades', { optional: true, signal }),
      industries(),
    ]);
    const names = new Map(inds.map((i) => [i.address, i.name]));
    const offers = list(offersRes, 'offers').filter((o) => !o.status || o.status === 'open');
    const trades = list(tradesRes, 'trades').map(tradeFields)
      .sort((a, b) => (b.height || 0) - (a.height || 0) || (parseTime(b.time) || 0) - (parseTime(a.time) || 0));
    const onOffer = offers.reduce((n, o) => n + (o.remaining ?? o.volume), 0);
    const best = offers.length ? Math.min(...offers.map((o) => o.price)) : null;
    const last = trades[0];
    replace(figures,
      stat('Open offers', fmtInt(offers.length), offersRes === null ? 'market not served' : `${fmtInt(new Set(offers.map((o) => o.seller)).size)} seller${new Set(offers.map((o) => o.seller)).size === 1 ? '' : 's'}`,
        { 'data-figure': 'offers-count', 'data-value': offers.length }),
      stat('On offer', fmtLitres(onOffer), 'allowance, this period', { 'data-figure': 'on-offer', 'data-value': onOffer }),
      stat('Best price', best === null ? '–' : fmtNum(perM3(best), 3), 'drops per m³', { 'data-figure': 'best-price', 'data-value': best ?? '' }),
      stat('Last trade', last ? fmtNum(perM3(last.price), 3) : '–', last ? `drops per m³ · block ${fmtInt(last.height)}` : 'no trades yet',
        { 'data-figure': 'trades-count', 'data-value': trades.length }));

    const ocols = [{ label: 'Seller' }, { label: 'Remaining', num: true }, { label: 'Price (drops/m³)', num: true },
      { label: 'Since block', num: true, hideSm: true }, { label: 'Offer', hideSm: true }];
    replace(offersBox, offers.length ? table(ocols, offers.map((o) => row(ocols, [
      name(names, o.seller), `${fmtLitres(o.remaining ?? o.volume)} of ${fmtLitres(o.volume)}`, fmtNum(perM3(o.price), 3),
      h('a', { href: `#/explorer/block/tx/${o.height}` }, fmtInt(o.height)), hashEl(o.id, 10),
    ], { 'data-offer': o.id }))) : empty(offersRes === null ? 'This node does not serve the market yet.' : 'No open offers. Sell allowance with `waterchain tx offer`.'));

    const tcols = [{ label: 'Block', num: true }, { label: 'Buyer' }, { label: 'Seller', hideSm: true },
      { label: 'Volume', num: true }, { label: 'Price (drops/m³)', num: true }];
    replace(tradesBox, trades.length ? table(tcols, trades.slice(0, 50).map((t) => row(tcols, [
      t.height ? h('a', { href: `#/explorer/block/tx/${t.height}` }, fmtInt(t.height)) : '–',
      name(names, t.buyer), name(names, t.seller), fmtLitres(t.volume), fmtNum(perM3(t.price), 3),
    ], { 'data-trade': t.id }))) : empty(tradesRes === null ? 'This node does not serve trade history yet (GET /v1/market/trades).' : 'No trades yet.'));

    // Trades over time when there are any; otherwise the price ladder of
    // the open offers by the block that opened them.
    if (trades.length) {
      const byTime = trades.every((t) => Number.isFinite(parseTime(t.time)));
      chartNote.textContent = `trade prices, drops per m³, by ${byTime ? 'time' : 'tx block'}`;
      const pts = trades.map((t) => [byTime ? parseTime(t.time) : t.height, perM3(t.price), `${fmtLitres(t.volume)} at block ${t.height}`]);
      chart.update((w) => lineChart(w, { series: [{ name: 'trade price', points: pts }], xTime: byTime, xInteger: !byTime, unit: 'drops/m³', label: 'trade prices', height: 200 }));
      replace(chartLegend, legend([{ name: 'trade price' }]));
    } else {
      chartNote.textContent = 'no trades yet: open offers, price by the tx block that opened them';
      const pts = offers.map((o) => [o.height, perM3(o.price), `${fmtLitres(o.remaining ?? o.volume)} by ${names.get(o.seller) || short(o.seller, 10)}`]);
      chart.update((w) => lineChart(w, { series: [{ name: 'open offer', points: pts }], dots: true, xInteger: true, unit: 'drops/m³', label: 'open offer prices', height: 200 }));
      replace(chartLegend, legend([{ name: 'open offer' }]));
    }
  };
  await render();
  const stop = refresher(render, { events: ['block'], filter: (ev) => ev.lane === 'tx', minGap: 2000 });
  return () => { stop(); chart.dispose(); };
}

