// In-browser verification of a reading's inclusion proof bundle
// (chain.ReadingProof), the same checks as ReadingProof.Verify in Go:
// the reading's bytes and device signature, its RFC 6962 inclusion in the
// block's entries root, the header's bytes and hash, the validator set's
// descent from genesis and the certificate's quorum of valid precommits.
import { encode, decode, withoutLastKey } from './cbor.js';
import { sha256, concat, equalBytes, ed25519Verify, signDigest, UnsupportedError } from './crypto.js';
import { hexToBytes, bytesToHex, parseTime } from './dom.js';

const LANES = { data: 1, tx: 2 };
const PRECOMMIT = 2;

const hx = (v, what) => {
  const b = hexToBytes(v || '');
  if (what && b.length !== 32) throw new Error(`${what}: want 32 bytes, got ${b.length}`);
  return b;
};

function timeMs(t, what) {
  const ms = parseTime(t);
  if (!Number.isSafeInteger(ms)) throw new Error(`${what}: not a time: ${t}`);
  return ms;
}

function laneNum(l) {
  if (typeof l === 'number') return l;
  if (!(l in LANES)) throw new Error(`unknown lane ${l}`);
  return LANES[l];
}

/** encodeHeader is the canonical CBOR of a header given as API JSON. */
export function encodeHeader(hd) {
  return encode(new Map([
    [1, hd.chain_id], [2, laneNum(hd.lane)], [3, hd.height], [4, timeMs(hd.time, 'header.time')],
    [5, hx(hd.prev_hash, 'prev_hash')], [6, hd.num_entries], [7, hx(hd.entries_root, 'entries_root')],
    [8, hx(hd.state_root, 'state_root')],
    [9, new Map([[1, hd.anchor.height], [2, hx(hd.anchor.hash, 'anchor.hash')]])],
    [10, hx(hd.validators_hash, 'validators_hash')], [11, hx(hd.proposer, 'proposer')],
  ]));
}

/** encodeReading is the canonical CBOR of a reading given as API JSON. */
export function encodeReading(r, withSig = true) {
  const m = new Map([
    [1, hx(r.device, 'device')], [2, r.seq], [3, timeMs(r.time, 'reading.time')], [4, r.flow_rate],
    [5, r.volume], [6, r.volume_total], [7, r.conductivity], [8, r.suspended_solids],
    [9, r.absorbance], [10, r.turbidity],
  ]);
  if (r.image_hash) m.set(11, hx(r.image_hash, 'image_hash'));
  if (withSig && r.sig) m.set(15, hx(r.sig));
  return encode(m);
}

/** encodePrecommit is the canonical CBOR of a precommit vote without its signature. */
export function encodePrecommit(lane, height, round, blockHash, validator) {
  return encode(new Map([[1, PRECOMMIT], [2, lane], [3, height], [4, round], [5, blockHash], [6, validator]]));
}

/** validatorsHash is SHA-256 of the CBOR array of the keys, in order. */
export async function validatorsHash(keys) {
  return sha256(encode(keys.map((k) => hx(k, 'validator key'))));
}

export const quorum = (n) => Math.floor((2 * n) / 3) + 1;

const leafHash = (leaf) => sha256(concat(new Uint8Array([0]), leaf));
const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

/**
 * rootFromInclusion recomputes an RFC 6962 root from a leaf hash, its index
 * in a tree of size leaves and the audit path (transparency-dev/merkle's
 * proof.RootFromInclusionProof).
 */
export async function rootFromInclusion(index, size, leaf, path) {
  if (!(index >= 0 && index < size)) throw new Error(`index ${index} is beyond the tree size ${size}`);
  const x = BigInt(index), last = BigInt(size - 1);
  const inner = (x ^ last).toString(2).length - ((x ^ last) === 0n ? 1 : 0);
  let border = 0;
  for (let v = x >> BigInt(inner); v > 0n; v >>= 1n) border += Number(v & 1n);
  if (path.length !== inner + border) throw new Error(`audit path has ${path.length} hashes, want ${inner + border}`);
  let seed = leaf;
  for (let i = 0; i < inner; i++) {
    seed = ((x >> BigInt(i)) & 1n) === 0n ? await nodeHash(seed, path[i]) : await nodeHash(path[i], seed);
  }
  for (let i = inner; i < path.length; i++) seed = await nodeHash(path[i], seed);
  return seed;
}

/**
 * verifyCertificate checks cert's precommits for block (lane, height,
 * hash) against the validator keys (hex): distinct members, a quorum, and
 * every signature. It returns {ok, detail, unsupported}.
 */
export async function verifyCertificate(chainID, cert, validators, lane, height, blockHash) {
  if (!cert || !Array.isArray(cert.sigs)) return { ok: false, detail: 'no certificate' };
  if (laneNum(cert.lane) !== lane || cert.height !== height) {
    return { ok: false, detail: `certificate is for ${cert.lane}/${cert.height}, block is ${lane}/${height}` };
  }
  if (!equalBytes(hx(cert.block_hash, 'block_hash'), blockHash)) {
    return { ok: false, detail: `certificate names block ${cert.block_hash}, the header hashes to ${bytesToHex(blockHash)}` };
  }
  const members = new Set(validators);
  const seen = new Set();
  for (const [i, sg] of cert.sigs.entries()) {
    if (!members.has(sg.validator)) return { ok: false, detail: `sigs[${i}]: ${sg.validator.slice(0, 8)} is not in the validator set` };
    if (seen.has(sg.validator)) return { ok: false, detail: `sigs[${i}]: ${sg.validator.slice(0, 8)} signed twice` };
    seen.add(sg.validator);
  }
  const need = quorum(validators.length);
  if (seen.size < need) return { ok: false, detail: `${seen.size} signatures, need ${need} of ${validators.length}` };
  for (const [i, sg] of cert.sigs.entries()) {
    const pub = hx(sg.validator, 'validator');
    const digest = await signDigest('vote', chainID, encodePrecommit(lane, height, cert.round, blockHash, pub));
    let good;
    try {
      good = await ed25519Verify(pub, hexToBytes(sg.sig), digest);
    } catch (err) {
      if (err instanceof UnsupportedError) return { ok: false, unsupported: true, detail: err.message };
      throw err;
    }
    if (!good) return { ok: false, detail: `sigs[${i}]: precommit signature by ${sg.validator.slice(0, 8)} does not verify` };
  }
  return { ok: true, detail: `${seen.size} of ${validators.length} validators signed (quorum ${need}); every signature verifies` };
}

/**
 * verifyReadingProof runs every check on proof (the JSON bundle) against
 * trust: {chainID, genesisHash, genesisValidators}. It returns {ok,
 * checks: [{name, ok, detail, unsupported}]}; ok only when all passed.
 */
export async function verifyReadingProof(proof, trust) {
  const checks = [];
  const check = async (name, fn) => {
    try {
      const r = await fn();
      checks.push({ name, ok: r.ok, detail: r.detail, unsupported: !!r.unsupported });
    } catch (err) {
      checks.push({ name, ok: false, detail: err.message || String(err) });
    }
  };
  const chainID = proof.chain_id;
  let readingBytes, headerBytes, blockHash;

  await check('Network', async () => {
    if (chainID !== trust.chainID) return { ok: false, detail: `proof is for chain "${chainID}", this network is "${trust.chainID}"` };
    if (proof.genesis_hash !== trust.genesisHash) return { ok: false, detail: `proof is for genesis ${proof.genesis_hash}, this network's is ${trust.genesisHash}` };
    return { ok: true, detail: `chain ${chainID}, genesis ${proof.genesis_hash.slice(0, 16)}…` };
  });

  await check('Reading bytes', async () => {
    readingBytes = hexToBytes(proof.reading_cbor);
    decode(readingBytes); // canonical, no trailing bytes
    const want = encodeReading(proof.reading);
    if (!equalBytes(readingBytes, want)) return { ok: false, detail: 'reading_cbor is not the canonical encoding of the reading shown' };
    return { ok: true, detail: `${readingBytes.length} bytes, canonical CBOR of the reading` };
  });

  await check('Device signature', async () => {
    // The key and signature come from the bytes in the tree, not from the
    // JSON beside them, so what is checked is what the block commits to.
    if (!readingBytes) throw new Error('no reading bytes');
    const m = decode(readingBytes);
    const pub = m.get(1), sig = m.get(15);
    if (!(pub instanceof Uint8Array) || pub.length !== 32 || !(sig instanceof Uint8Array) || sig.length !== 64) {
      return { ok: false, detail: 'reading_cbor has no 32-byte device key and 64-byte signature' };
    }
    const digest = await signDigest('reading', chainID, withoutLastKey(readingBytes, 15));
    try {
      const good = await ed25519Verify(pub, sig, digest);
      return good ? { ok: true, detail: `Ed25519 signature of device ${bytesToHex(pub).slice(0, 12)}… verifies` }
        : { ok: false, detail: 'the device signature does not verify' };
    } catch (err) {
      if (err instanceof UnsupportedError) return { ok: false, unsupported: true, detail: err.message };
      throw err;
    }
  });

  await check('Header bytes', async () => {
    headerBytes = hexToBytes(proof.header_cbor);
    decode(headerBytes);
    if (!equalBytes(headerBytes, encodeHeader(proof.header))) return { ok: false, detail: 'header_cbor is not the canonical encoding of the header shown' };
    if (laneNum(proof.header.lane) !== LANES.data || proof.header.chain_id !== chainID) {
      return { ok: false, detail: `header is ${proof.header.lane} on chain "${proof.header.chain_id}", want a data block of "${chainID}"` };
    }
    blockHash = await sha256(headerBytes);
    return { ok: true, detail: `data block ${proof.header.height}, hash ${bytesToHex(blockHash).slice(0, 16)}…` };
  });

  await check('Inclusion in the block', async () => {
    if (!readingBytes) throw new Error('no reading bytes');
    const path = (proof.path || []).map((p) => hx(p, 'path hash'));
    const root = await rootFromInclusion(proof.index, proof.header.num_entries, await leafHash(readingBytes), path);
    if (!equalBytes(root, hx(proof.header.entries_root, 'entries_root'))) {
      return { ok: false, detail: `the audit path leads to root ${bytesToHex(root).slice(0, 16)}…, the header's entries root is ${proof.header.entries_root.slice(0, 16)}…` };
    }
    return { ok: true, detail: `entry ${proof.index} of ${proof.header.num_entries}; ${path.length} hashes to the entries root` };
  });

  let set = trust.genesisValidators;
  await check('Validator set', async () => {
    let lastEffective = 0;
    for (const [i, c] of (proof.set_changes || []).entries()) {
      if (!c.cert || laneNum(c.approval.lane) !== LANES.tx || c.effective !== c.approval.height + 2 || c.effective <= lastEffective) {
        return { ok: false, detail: `set_changes[${i}]: malformed` };
      }
      if (bytesToHex(await validatorsHash(set)) !== c.approval.validators_hash) {
        return { ok: false, detail: `set_changes[${i}]: approving block is signed by another set than the one in force` };
      }
      const r = await verifyCertificate(chainID, c.cert, set, LANES.tx, c.approval.height, await sha256(encodeHeader(c.approval)));
      if (!r.ok) return { ...r, detail: `set_changes[${i}]: ${r.detail}` };
      set = c.validators;
      lastEffective = c.effective;
    }
    const want = proof.validators || [];
    if (want.length !== set.length || want.some((k, i) => k !== set[i])) {
      return { ok: false, detail: 'the proof\'s validators do not follow from genesis through set_changes' };
    }
    const vh = bytesToHex(await validatorsHash(set));
    if (vh !== proof.header.validators_hash) {
      return { ok: false, detail: `the validator set hashes to ${vh.slice(0, 16)}…, the header names ${proof.header.validators_hash.slice(0, 16)}…` };
    }
    const n = (proof.set_changes || []).length;
    return { ok: true, detail: `${set.length} validators, ${n ? n + ' change(s) from genesis, each certified' : 'the genesis set'}` };
  });

  await check('Commit certificate', async () => {
    if (!blockHash) throw new Error('no header');
    return verifyCertificate(chainID, proof.cert, set, LANES.data, proof.header.height, blockHash);
  });

  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * parseBundle parses a proof bundle's JSON keeping every integer exact: one
 * beyond 2^53 (a uint64 seq or volume, say) becomes a BigInt, read from its
 * source text, which cbor.js encodes to the bytes Go signed. JSON.parse
 * alone would round it and the reading's bytes would not match. A browser
 * that does not show the reviver the source text (before Chrome 114) gets
 * the rounded Number, which encode refuses with a clear error.
 */
export function parseBundle(text) {
  return JSON.parse(text, (_key, v, ctx) => (typeof v === 'number' && !Number.isSafeInteger(v)
    && ctx && typeof ctx.source === 'string' && /^-?\d+$/.test(ctx.source) ? BigInt(ctx.source) : v));
}

/** formatBundle is the JSON of a bundle from parseBundle, BigInts as integers. */
export function formatBundle(proof, indent) {
  return JSON.stringify(proof, (_key, v) => {
    if (typeof v !== 'bigint') return v;
    if (typeof JSON.rawJSON !== 'function') throw new Error(`this browser cannot write the integer ${v} as JSON`);
    return JSON.rawJSON(v.toString());
  }, indent);
}

/**
 * tamper returns a copy of proof with one byte of part flipped: "reading"
 * (reading_cbor), "path" (the first audit path hash, or the entries root
 * when the path is empty), "header" (header_cbor) or "signature" (the
 * first certificate signature).
 */
export function tamper(proof, part = 'reading') {
  const p = structuredClone(proof); // keeps BigInts
  const flip = (hex, at) => {
    const b = hexToBytes(hex);
    b[Math.min(at, b.length - 1)] ^= 0x01;
    return bytesToHex(b);
  };
  switch (part) {
    case 'path':
      if (p.path && p.path.length) p.path[0] = flip(p.path[0], 5);
      else p.header.entries_root = flip(p.header.entries_root, 5);
      break;
    case 'header': p.header_cbor = flip(p.header_cbor, Math.floor(hexToBytes(p.header_cbor).length / 2)); break;
    case 'signature': p.cert.sigs[0].sig = flip(p.cert.sigs[0].sig, 10); break;
    default: p.reading_cbor = flip(p.reading_cbor, hexToBytes(p.reading_cbor).length - 40);
  }
  return p;
}
