// The subset of deterministic CBOR (RFC 8949 §4.2.1, core deterministic
// encoding) that Waterchain's canonical encoding uses: unsigned and
// negative integers, byte and text strings, arrays, maps, booleans and
// null.
//
// Integers span CBOR's whole range, -2^64 .. 2^64-1, which holds every
// uint64 and int64 of the chain. encode takes a safe-integer Number or a
// BigInt (a Number beyond 2^53 has already lost its low bits, so it is
// refused, not rounded); decode gives a Number when the value is a safe
// integer and a BigInt otherwise, so a value decoded and encoded again
// keeps its bytes.

const MT_UINT = 0, MT_NEG = 1, MT_BYTES = 2, MT_TEXT = 3, MT_ARRAY = 4, MT_MAP = 5, MT_SIMPLE = 7;

export class CborError extends Error {}

const TWO64 = 1n << 64n;

// head writes a major type with argument n, a non-negative safe-integer
// Number or a BigInt below 2^64, in the shortest form.
function head(out, major, n) {
  if (typeof n === 'bigint') {
    if (n < 0n || n >= TWO64) throw new CborError(`cannot encode ${n}: outside 0..2^64-1`);
    if (n <= BigInt(Number.MAX_SAFE_INTEGER)) n = Number(n);
  } else if (!Number.isSafeInteger(n) || n < 0) {
    throw new CborError(`cannot encode ${n}: not a safe non-negative integer (use a BigInt above 2^53)`);
  }
  const m = major << 5;
  if (typeof n === 'number' && n < 0x100000000) {
    if (n < 24) out.push(m | n);
    else if (n < 0x100) out.push(m | 24, n);
    else if (n < 0x10000) out.push(m | 25, n >> 8, n & 0xff);
    else out.push(m | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    return;
  }
  const v = BigInt(n);
  out.push(m | 27);
  for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((v >> shift) & 0xffn));
}

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function encodeInto(out, v) {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new CborError(`cannot encode ${v}: not a safe integer (use a BigInt above 2^53)`);
    if (v >= 0) head(out, MT_UINT, v); else head(out, MT_NEG, -1 - v);
  } else if (typeof v === 'bigint') {
    if (v >= 0n) head(out, MT_UINT, v); else head(out, MT_NEG, -1n - v);
  } else if (v instanceof Uint8Array) {
    head(out, MT_BYTES, v.length);
    for (const b of v) out.push(b);
  } else if (typeof v === 'string') {
    const b = new TextEncoder().encode(v);
    head(out, MT_TEXT, b.length);
    for (const x of b) out.push(x);
  } else if (Array.isArray(v)) {
    head(out, MT_ARRAY, v.length);
    for (const x of v) encodeInto(out, x);
  } else if (v instanceof Map) {
    const entries = [...v.entries()].map(([k, val]) => [encode(k), val]);
    entries.sort((a, b) => compareBytes(a[0], b[0])); // bytewise order of encoded keys
    head(out, MT_MAP, entries.length);
    for (const [k, val] of entries) { for (const b of k) out.push(b); encodeInto(out, val); }
  } else if (v === false) out.push(0xf4);
  else if (v === true) out.push(0xf5);
  else if (v === null) out.push(0xf6);
  else throw new CborError(`cannot encode a ${typeof v}`);
}

/** encode returns the deterministic encoding of v (Maps for CBOR maps). */
export function encode(v) {
  const out = [];
  encodeInto(out, v);
  return new Uint8Array(out);
}

class Reader {
  constructor(bytes) { this.b = bytes; this.pos = 0; this.depth = 0; }

  byte() {
    if (this.pos >= this.b.length) throw new CborError('truncated input');
    return this.b[this.pos++];
  }

  arg(info) {
    if (info < 24) return info;
    let n;
    if (info === 24) { n = this.byte(); if (n < 24) throw new CborError('non-shortest integer'); return n; }
    if (info === 25) { n = this.byte() * 0x100 + this.byte(); if (n < 0x100) throw new CborError('non-shortest integer'); return n; }
    if (info === 26) {
      n = 0; for (let i = 0; i < 4; i++) n = n * 0x100 + this.byte();
      if (n < 0x10000) throw new CborError('non-shortest integer');
      return n;
    }
    if (info === 27) {
      let v = 0n;
      for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(this.byte());
      if (v < 0x100000000n) throw new CborError('non-shortest integer');
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    throw new CborError(`indefinite or reserved length (additional info ${info})`);
  }

  // length is the argument of a string, array or map: a Number (a BigInt
  // one is longer than any input).
  length(info) {
    const n = this.arg(info);
    if (typeof n === 'bigint') throw new CborError('truncated input');
    return n;
  }

  take(n) {
    if (n > this.b.length - this.pos) throw new CborError('truncated input');
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  item() {
    if (++this.depth > 32) throw new CborError('nested too deeply');
    const ib = this.byte();
    const major = ib >> 5, info = ib & 0x1f;
    let v;
    switch (major) {
      case MT_UINT: v = this.arg(info); break;
      case MT_NEG: {
        const n = this.arg(info);
        v = typeof n === 'bigint' || n === Number.MAX_SAFE_INTEGER ? -1n - BigInt(n) : -1 - n;
        break;
      }
      case MT_BYTES: v = this.take(this.length(info)); break;
      case MT_TEXT: v = new TextDecoder('utf-8', { fatal: true }).decode(this.take(this.length(info))); break;
      case MT_ARRAY: {
        const n = this.length(info);
        if (n > this.b.length) throw new CborError('array longer than the input');
        v = [];
        for (let i = 0; i < n; i++) v.push(this.item());
        break;
      }
      case MT_MAP: {
        const n = this.length(info);
        if (n > this.b.length) throw new CborError('map longer than the input');
        v = new Map();
        let prev = null;
        for (let i = 0; i < n; i++) {
          const start = this.pos;
          const k = this.item();
          const kb = this.b.subarray(start, this.pos);
          if (prev && compareBytes(prev, kb) >= 0) throw new CborError('map keys not in canonical order or repeated');
          prev = kb;
          v.set(k, this.item());
        }
        break;
      }
      case MT_SIMPLE:
        if (info === 20) v = false; else if (info === 21) v = true; else if (info === 22) v = null;
        else throw new CborError(`unsupported simple value or float (${info})`);
        break;
      default: throw new CborError(`unsupported major type ${major} (tags are not canonical here)`);
    }
    this.depth--;
    return v;
  }
}

/** decode decodes exactly one canonical item; trailing bytes are an error. */
export function decode(bytes) {
  const r = new Reader(bytes);
  const v = r.item();
  if (r.pos !== bytes.length) throw new CborError(`${bytes.length - r.pos} trailing bytes`);
  return v;
}

/**
 * withoutLastKey returns the encoding of a canonical map minus its entry
 * with key k, which must be the map's last entry (a signature under key 15
 * or 31 sorts last): the signing bytes of a signed value.
 */
export function withoutLastKey(bytes, k) {
  const m = decode(bytes);
  if (!(m instanceof Map) || !m.has(k)) throw new CborError(`not a map with key ${k}`);
  const keys = [...m.keys()];
  if (keys[keys.length - 1] !== k) throw new CborError(`key ${k} is not the last entry`);
  const rest = new Map(m);
  rest.delete(k);
  return encode(rest);
}
