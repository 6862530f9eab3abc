// Explorer: blocks, their entries and the validators who signed their
// certificate; a reading and the in-browser check of its inclusion proof.
import { get, list, industryNames, ApiError } from '../api.js';
import {
  h, replace, card, fmtInt, fmtNum, fmtTime, fmtDrops, fmtLitres, short, badge, empty, errorBox, table, row,
  hashEl, MEASURES,
} from '../dom.js';
import { laneTable } from './blocks.js';
import { verifyReadingProof, verifyCertificate, encodeHeader, tamper, parseBundle, formatBundle } from '../proof.js';
import { sha256 } from '../crypto.js';
import { bytesToHex } from '../dom.js';

export async function mount(root, { args, signal }) {
  const [what, a, b] = args;
  if (what === 'block') return mountBlock(root, a, Number(b), signal);
  if (what === 'reading') return mountReading(root, a, Number(b), signal);
  if (what === 'tx') return mountTx(root, a, signal);
  return mountHome(root, signal);
}

function searchForm() {
  const lane = h('select', { name: 'lane', 'aria-label': 'Lane' }, h('option', { value: 'data' }, 'data'), h('option', { value: 'tx' }, 'tx'));
  const height = h('input', { name: 'height', type: 'number', min: 1, placeholder: 'height', 'aria-label': 'Block height', size: 8 });
  const device = h('input', { name: 'device', placeholder: 'device key (hex)', 'aria-label': 'Device key', size: 30 });
  const seq = h('input', { name: 'seq', type: 'number', min: 1, placeholder: 'seq', 'aria-label': 'Sequence number', size: 6 });
  const txh = h('input', { name: 'tx', placeholder: 'transaction hash (hex)', 'aria-label': 'Transaction hash', size: 30 });
  const go = (e, target) => { e.preventDefault(); location.hash = target(); };
  return h('div', { class: 'grid' },
    h('form', { class: 'card span-4 toolbar', onsubmit: (e) => go(e, () => `#/explorer/block/${lane.value}/${height.value}`) },
      h('strong', {}, 'Block'), lane, height, h('button', { type: 'submit' }, 'Open')),
    h('form', { class: 'card span-4 toolbar', onsubmit: (e) => go(e, () => `#/explorer/reading/${device.value.trim()}/${seq.value}`) },
      h('strong', {}, 'Reading'), device, seq, h('button', { type: 'submit' }, 'Open')),
    h('form', { class: 'card span-4 toolbar', onsubmit: (e) => go(e, () => `#/explorer/tx/${txh.value.trim()}`) },
      h('strong', {}, 'Transaction'), txh, h('button', { type: 'submit' }, 'Open')));
}

async function mountHome(root, signal) {
  const st = await get('/v1/status', { signal });
  const n = (st.validators || []).length;
  const data = laneTable('data', { n: 15, validators: () => n, signal });
  const tx = laneTable('tx', { n: 15, validators: () => n, signal });
  replace(root,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Explorer'),
      h('p', {}, 'Blocks of both lanes with their certificates; readings with their inclusion proofs, checked in this browser.'))),
    searchForm(),
    h('div', { class: 'grid' },
      h('div', { class: 'span-6' }, card('Data blocks', 'live', data.el)),
      h('div', { class: 'span-6' }, card('Tx blocks', 'live', tx.el))));
  await Promise.all([data.load(st.lanes.data.height), tx.load(st.lanes.tx.height)]);
  return () => { data.stop(); tx.stop(); };
}

/** txKind names a transaction's kind and summarises it. */
export function txKind(tx, names) {
  const nm = (a) => names.get(a) || short(a, 12);
  if (tx.transfer) return ['transfer', `${fmtDrops(tx.transfer.amount)} drops to ${nm(tx.transfer.to)}`];
  if (tx.register_device) return ['register device', `${short(tx.register_device.device, 10)} ${tx.register_device.label || ''}`];
  if (tx.revoke_device) return ['revoke device', short(tx.revoke_device.device, 10)];
  if (tx.set_permit) return ['set permit', `${nm(tx.set_permit.industry)}: ${fmtLitres(tx.set_permit.allowance)}`];
  if (tx.offer_allowance) return ['offer', `${fmtLitres(tx.offer_allowance.volume)} at ${fmtNum(tx.offer_allowance.price * 1000 / 1e6, 3)} drops/m³`];
  if (tx.accept_offer) return ['accept offer', `${fmtLitres(tx.accept_offer.volume)} of ${short(tx.accept_offer.offer, 10)}`];
  if (tx.cancel_offer) return ['cancel offer', short(tx.cancel_offer.offer, 10)];
  if (tx.validator_change) return [tx.validator_change.remove ? 'validator remove' : 'validator add', short(tx.validator_change.validator, 10)];
  if (tx.evidence) return ['evidence', 'equivocation'];
  return ['unknown', ''];
}

async function trustedGenesis(signal) {
  // The genesis this node reports: its chain id and hash, and the first
  // validator set of its history. Checking against these trusts this
  // node's genesis; `waterchain proof verify --genesis FILE` trusts a file.
  const [st, history] = await Promise.all([get('/v1/status', { signal }), get('/v1/validators', { optional: true, signal })]);
  const records = list(history, 'validators').slice().sort((x, y) => (x.from || 0) - (y.from || 0));
  return {
    chainID: st.chain_id, genesisHash: st.genesis_hash, status: st,
    genesisValidators: records.length ? records[0].keys : st.validators,
    fromHistory: records.length > 0, history: records,
  };
}

async function mountBlock(root, lane, height, signal) {
  if (!['data', 'tx'].includes(lane) || !Number.isSafeInteger(height) || height < 1) {
    replace(root, empty('Give a lane (data or tx) and a height from 1.'), searchForm());
    return null;
  }
  const blk = await get(`/v1/blocks/${lane}/${height}`, { optional: true, signal });
  if (!blk) {
    replace(root, empty(`No final ${lane} block at height ${height} yet.`), searchForm());
    return null;
  }
  const hd = blk.header;
  const [trust, names] = await Promise.all([trustedGenesis(signal), industryNames()]);
  // The set that signs this block: the validator-set record in force at
  // the block's tx height (its own for tx, its anchor for data).
  const txHeight = lane === 'tx' ? height : hd.anchor.height;
  const rec = trust.history.filter((r) => (r.from || 0) <= txHeight).pop();
  const validators = rec ? rec.keys : trust.status.validators;
  const signers = new Set((blk.cert ? blk.cert.sigs : []).map((s) => s.validator));
  const certBox = h('div', { class: 'verdict pending', 'data-verdict': 'pending' }, 'Checking the certificate in this browser…');

  const vcols = [{ label: '#', num: true }, { label: 'Validator' }, { label: 'Signed' }];
  const entries = lane === 'data' ? readingsTable(blk.readings || [], names) : txsTable(blk.txs || [], names);
  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, `${lane === 'data' ? 'Data' : 'Tx'} block ${fmtInt(height)}`), h('p', {}, hashEl(blk.hash, 64))),
      h('div', { class: 'toolbar' },
        height > 1 ? h('a', { class: 'badge', href: `#/explorer/block/${lane}/${height - 1}` }, '← previous') : null,
        h('a', { class: 'badge', href: `#/explorer/block/${lane}/${height + 1}` }, 'next →'),
        h('a', { class: 'badge', href: '#/explorer' }, 'explorer'))),
    h('div', { class: 'grid' },
      h('div', { class: 'span-6' }, card('Header', null, h('dl', { class: 'kv', 'data-block': `${lane}/${height}` },
        h('dt', {}, 'Time'), h('dd', {}, fmtTime(hd.time)),
        h('dt', {}, 'Entries'), h('dd', { 'data-figure': 'entries', 'data-value': hd.num_entries }, fmtInt(hd.num_entries)),
        h('dt', {}, 'Entries root'), h('dd', {}, hashEl(hd.entries_root, 24)),
        h('dt', {}, 'State root'), h('dd', {}, hashEl(hd.state_root, 24)),
        h('dt', {}, 'Previous'), h('dd', {}, height > 1 ? h('a', { href: `#/explorer/block/${lane}/${height - 1}` }, short(hd.prev_hash, 24)) : hashEl(hd.prev_hash, 24)),
        h('dt', {}, 'Anchor'), h('dd', {}, h('a', { href: `#/explorer/block/${lane === 'data' ? 'tx' : 'data'}/${hd.anchor.height}` },
          `${lane === 'data' ? 'tx' : 'data'} ${fmtInt(hd.anchor.height)}`)),
        h('dt', {}, 'Proposer'), h('dd', {}, hashEl(hd.proposer, 24)),
        h('dt', {}, 'Validator set'), h('dd', {}, hashEl(hd.validators_hash, 24))))),
      h('div', { class: 'span-6' }, card('Commit certificate', blk.cert ? `round ${blk.cert.round} · ${signers.size} of ${validators.length} signed` : 'none',
        certBox,
        table(vcols, validators.map((v, i) => row(vcols, [i + 1, hashEl(v, 16),
          signers.has(v) ? badge('signed', 'ok') : badge('no signature', 'bad')], { 'data-validator': v, 'data-signed': String(signers.has(v)) }))))),
      h('div', { class: 'span-12' }, card(lane === 'data' ? 'Readings' : 'Transactions', `${fmtInt(hd.num_entries)} entries`, entries))));

  // The block hash is SHA-256 of the header's canonical bytes; the
  // certificate must name it and carry a quorum of valid precommits.
  try {
    const hash = await sha256(encodeHeader(hd));
    if (bytesToHex(hash) !== blk.hash) throw new Error(`the header hashes to ${bytesToHex(hash)}, the node says ${blk.hash}`);
    const r = await verifyCertificate(trust.chainID, blk.cert, validators, lane === 'data' ? 1 : 2, height, hash);
    certBox.className = `verdict ${r.ok ? 'ok' : 'bad'}`;
    certBox.dataset.verdict = r.ok ? 'ok' : 'bad';
    certBox.textContent = `${r.ok ? '✓ Final: ' : (r.unsupported ? 'Not checked: ' : '✗ ')}${r.detail}`;
  } catch (err) {
    certBox.className = 'verdict bad';
    certBox.dataset.verdict = 'bad';
    certBox.textContent = `✗ ${err.message}`;
  }
  return null;
}

function readingsTable(readings, names) {
  if (!readings.length) return empty('No readings in this block (an empty block, made at a settlement boundary or once the lane had been idle for the genesis idle interval).');
  const cols = [{ label: '#', num: true }, { label: 'Meter' }, { label: 'Seq', num: true }, { label: 'Time', hideSm: true },
    ...MEASURES.map((m) => ({ label: `${m.label.split(' (')[0]} (${m.unit})`, num: true, hideSm: m.name !== 'volume' && m.name !== 'flow_rate' })), { label: 'Proof' }];
  return table(cols, readings.map((r, i) => row(cols, [i, hashEl(r.device, 10), fmtInt(r.seq), fmtTime(r.time),
    ...MEASURES.map((m) => fmtNum(r[m.name] / m.scale, 3)),
    h('a', { href: `#/explorer/reading/${r.device}/${r.seq}` }, 'check')], { 'data-device': r.device, 'data-seq': r.seq })));
}

function txsTable(txs, names) {
  if (!txs.length) return empty('No transactions in this block (an empty block, made at a settlement boundary or once the lane had been idle for the genesis idle interval).');
  const cols = [{ label: '#', num: true }, { label: 'Kind' }, { label: 'From' }, { label: 'Nonce', num: true, hideSm: true }, { label: 'What' }];
  return table(cols, txs.map((tx, i) => {
    const [kind, what] = txKind(tx, names);
    return row(cols, [i, badge(kind, 'info'), hashEl(tx.from, 10), fmtInt(tx.nonce), what]);
  }));
}

async function mountTx(root, hash, signal) {
  let st;
  try {
    st = await get(`/v1/txs/${hash}`, { optional: true, signal });
  } catch (err) {
    if (err instanceof ApiError && err.status === 400) { replace(root, errorBox(err), searchForm()); return null; }
    throw err;
  }
  if (!st) { replace(root, empty(`Transaction ${short(hash, 16)} is neither final nor waiting on this node.`), searchForm()); return null; }
  const names = await industryNames();
  const [kind, what] = st.tx ? txKind(st.tx, names) : ['', ''];
  replace(root, h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Transaction'), h('p', {}, hashEl(st.hash, 64)))),
    card(kind || 'Transaction', null, h('dl', { class: 'kv' },
      h('dt', {}, 'Status'), h('dd', {}, badge(st.status, st.status === 'final' ? 'ok' : 'warn')),
      st.height ? [h('dt', {}, 'Block'), h('dd', {}, h('a', { href: `#/explorer/block/tx/${st.height}` }, `tx ${fmtInt(st.height)}`), ` · entry ${st.index || 0}`)] : null,
      st.tx ? [h('dt', {}, 'From'), h('dd', {}, hashEl(st.tx.from, 64)), h('dt', {}, 'Nonce'), h('dd', {}, fmtInt(st.tx.nonce)), h('dt', {}, 'What'), h('dd', {}, what)] : null)));
  return null;
}

async function mountReading(root, device, seq, signal) {
  if (!/^[0-9a-f]{64}$/i.test(device || '') || !Number.isSafeInteger(seq) || seq < 1) {
    replace(root, empty('Give a device key (64 hex digits) and a sequence number from 1.'), searchForm());
    return null;
  }
  const res = await get(`/v1/readings?device=${device}&seq=${seq}`, { optional: true, signal });
  const rd = list(res, 'readings')[0];
  if (!rd) {
    replace(root, empty(`No final reading ${seq} of device ${short(device, 12)} on this node.`), searchForm());
    return null;
  }
  const dev = await get(`/v1/devices/${device}`, { optional: true, signal });
  const proofBox = h('div', {});
  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, `Reading ${fmtInt(seq)}`), h('p', {}, 'meter ', hashEl(device, 64))),
      h('a', { class: 'badge', href: `#/explorer/block/data/${rd.height}` }, `in data block ${fmtInt(rd.height)}`)),
    h('div', { class: 'grid' },
      h('div', { class: 'span-4' }, card('Reading', fmtTime(rd.time), h('dl', { class: 'kv', 'data-reading': `${device}/${seq}` },
        dev ? [h('dt', {}, 'Industry'), h('dd', {}, h('a', { href: `#/industry/${dev.owner}` }, dev.industry || short(dev.owner, 12)))] : null,
        MEASURES.map((m) => [h('dt', {}, m.label), h('dd', { 'data-measure': m.name, 'data-value': rd[m.name] }, `${fmtNum(rd[m.name] / m.scale, 3)} ${m.unit}`)]),
        h('dt', {}, 'Block'), h('dd', {}, h('a', { href: `#/explorer/block/data/${rd.height}` }, `data ${fmtInt(rd.height)}`), ` · entry ${rd.index}`),
        h('dt', {}, 'Hash'), h('dd', {}, hashEl(rd.hash, 24))))),
      h('div', { class: 'span-8' }, card('Inclusion proof', 'checked in this browser', proofBox))));
  await mountProof(proofBox, device, seq, signal);
  return null;
}

async function mountProof(box, device, seq, signal) {
  const proof = await get(`/v1/proofs/readings/${device}/${seq}`, { optional: true, signal, parse: parseBundle });
  if (!proof) {
    replace(box, empty('This node does not serve inclusion proofs yet (GET /v1/proofs/readings/{device}/{seq}). `waterchain proof reading` makes one from a node\'s store.'));
    box.dataset.proof = 'unavailable';
    return;
  }
  box.dataset.proof = 'loaded';
  const trust = await trustedGenesis(signal);
  const verdict = h('div', { class: 'verdict pending', 'data-verdict': 'pending', role: 'status' }, 'Not checked yet.');
  const checks = h('ul', { class: 'checks' });
  const text = h('textarea', { rows: 10, spellcheck: 'false', 'aria-label': 'Proof bundle (JSON)', 'data-proof-json': '' });
  text.value = formatBundle(proof, 1);
  const part = h('select', { 'aria-label': 'Part to tamper with' },
    h('option', { value: 'reading' }, 'reading bytes'), h('option', { value: 'path' }, 'audit path'),
    h('option', { value: 'header' }, 'header bytes'), h('option', { value: 'signature' }, 'a validator signature'));

  const run = async () => {
    verdict.className = 'verdict pending';
    verdict.dataset.verdict = 'pending';
    verdict.textContent = 'Checking…';
    let bundle;
    try {
      bundle = parseBundle(text.value);
    } catch (err) {
      verdict.className = 'verdict bad';
      verdict.dataset.verdict = 'bad';
      verdict.textContent = `✗ The bundle is not JSON: ${err.message}`;
      replace(checks);
      return;
    }
    const res = await verifyReadingProof(bundle, trust);
    const unsupported = res.checks.some((c) => c.unsupported);
    verdict.className = `verdict ${res.ok ? 'ok' : 'bad'}`;
    verdict.dataset.verdict = res.ok ? 'ok' : (unsupported ? 'unsupported' : 'bad');
    verdict.textContent = res.ok
      ? `✓ Proof verified: reading ${bundle.reading.seq} is entry ${bundle.index} of data block ${bundle.header.height}, final under a quorum of the validators.`
      : `✗ Proof does not verify: ${res.checks.filter((c) => !c.ok).map((c) => c.name.toLowerCase()).join(', ')}.`;
    replace(checks, res.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad', 'data-check': c.name, 'data-ok': String(c.ok) },
      h('span', { class: 'mark', 'aria-hidden': 'true' }, c.ok ? '✓' : '✗'),
      h('div', {}, h('div', {}, c.name), h('div', { class: 'detail' }, c.detail || '')))));
  };

  replace(box,
    verdict, checks,
    h('p', { class: 'muted' }, `Checked against the genesis this node reports (chain ${trust.chainID}, `,
      h('code', { class: 'mono' }, short(trust.genesisHash, 12)), trust.fromHistory ? ', genesis validator set' : ', current validator set',
      '). To trust a genesis file instead: ', h('code', { class: 'mono' }, 'waterchain proof verify --genesis genesis.json PROOF'), '.'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', 'data-action': 'verify', onclick: run }, 'Verify'),
      part,
      h('button', { type: 'button', class: 'secondary', 'data-action': 'tamper', onclick: () => { text.value = formatBundle(tamper(parseBundle(text.value), part.value), 1); run(); } }, 'Flip a byte'),
      h('button', { type: 'button', class: 'secondary', 'data-action': 'reset', onclick: () => { text.value = formatBundle(proof, 1); run(); } }, 'Reset'),
      h('a', { href: `/v1/proofs/readings/${device}/${seq}`, download: `reading-${seq}.proof.json` }, 'download')),
    h('details', {}, h('summary', {}, 'Proof bundle (editable)'), text));
  await run();
}
