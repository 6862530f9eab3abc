package node

import (
	"bytes"
	"crypto/ed25519"

	"github.com/waterchain/waterchain/chain"
)

// decodeSyncBlocks decodes a sync answer (syncBlocksResp) as chain.Decode
// does, with the readings of its data blocks read without reflection. A
// CPU profile of an auditor catching up blocks full of readings (`bench
// history --catchup-cpuprofile`) put 7% of its time in chain.Decode of
// these answers, more than half of it in the re-encoding by reflection
// that proves the input canonical.
//
// Headers and certificates, a few per block, still go through
// chain.Decode, each on its own bytes (canonical CBOR is canonical item by
// item); a block without readings goes through chain.Decode whole, and an
// answer whose first block has none (empty blocks, the tx lane) is left
// to chain.Decode whole.
// Each reading must re-encode (chain.Reading.Encode) to its very bytes, as
// chain.Decode demands. Anything else the fast path does not take (an
// empty answer, a null, a form it does not know) gives ok=false, and the
// caller decodes with chain.Decode, which has the last word: what this
// accepts chain.Decode accepts with the same value
// (FuzzDecodeSyncBlocks).
func decodeSyncBlocks(data []byte) (blocks []*chain.Block, ok bool) {
	if len(data) > chain.MaxMessageSize {
		return nil, false
	}
	d := cborReader{b: data}
	if major, pairs, ok := d.head(); !ok || major != chain.CBORMap || pairs != 1 {
		return nil, false
	}
	if major, key, ok := d.head(); !ok || major != chain.CBORUint || key != 1 {
		return nil, false
	}
	major, n, ok := d.head()
	if !ok || major != chain.CBORArray || n < 1 || n > chain.MaxListLen || n > uint64(len(data)) {
		return nil, false
	}
	blocks = make([]*chain.Block, n)
	for i := range blocks {
		if blocks[i], ok = d.syncBlock(); !ok {
			return nil, false
		}
		if i == 0 && blocks[0].Readings == nil {
			// An answer of empty blocks or tx blocks: chain.Decode
			// of the whole answer took a fifth of the time of one
			// chain.Decode per block (256 empty blocks with four
			// signatures each: 1.5-2.4 ms against 7.3-10 ms).
			return nil, false
		}
	}
	if d.i != len(data) {
		return nil, false
	}
	return blocks, true
}

// syncBlock reads one block with its certificate (chain.Block).
func (d *cborReader) syncBlock() (*chain.Block, bool) {
	start := d.i
	major, fields, ok := d.head()
	if !ok || major != chain.CBORMap || fields < 1 || fields > 4 {
		return nil, false
	}
	b := &chain.Block{}
	var header, cert []byte
	var last uint64
	for range fields {
		major, key, ok := d.head()
		if !ok || major != chain.CBORUint || key <= last || key > 4 {
			return nil, false // unknown, duplicate or out of canonical order
		}
		last = key
		from := d.i
		switch key {
		case 1:
			if !d.skip(0) {
				return nil, false
			}
			header = d.b[from:d.i]
		case 2:
			if !d.syncReadings(b) {
				return nil, false
			}
		case 3:
			if !d.skip(0) {
				return nil, false
			}
		case 4:
			if !d.skip(0) {
				return nil, false
			}
			cert = d.b[from:d.i]
		}
	}
	if b.Readings == nil {
		// No readings (an empty block, a tx block): one chain.Decode of
		// the block costs less than one of its header and one of its
		// certificate.
		var wb chain.Block
		if chain.Decode(d.b[start:d.i], &wb) != nil {
			return nil, false
		}
		return &wb, true
	}
	if header == nil || chain.Decode(header, &b.Header) != nil {
		return nil, false
	}
	if cert != nil {
		var c chain.Certificate
		if chain.Decode(cert, &c) != nil {
			return nil, false
		}
		b.Cert = &c
	}
	return b, true
}

// syncReadings reads a block's readings (an array of at least one: an
// empty one is left out of the canonical form) into b.Readings.
func (d *cborReader) syncReadings(b *chain.Block) bool {
	major, n, ok := d.head()
	if !ok || major != chain.CBORArray || n < 1 || n > chain.MaxListLen || n > uint64(len(d.b)-d.i) {
		return false
	}
	rs := make([]chain.Reading, n)
	sigs := make([]byte, int(n)*ed25519.SignatureSize)
	b.Readings = make([]*chain.Reading, n)
	var images []chain.Hash
	var canon [chain.ReadingEncodingCap]byte // no allocation per reading
	for i := range rs {
		from := d.i
		sig := sigs[i*ed25519.SignatureSize : (i+1)*ed25519.SignatureSize : (i+1)*ed25519.SignatureSize]
		if !d.reading(&rs[i], sig, &images) || !bytes.Equal(rs[i].AppendEncoding(canon[:0]), d.b[from:d.i]) {
			return false
		}
		b.Readings[i] = &rs[i]
	}
	return true
}

// maxSkipDepth bounds the nesting skip follows, as chain.Decode bounds it.
const maxSkipDepth = 16

// skip passes over one well-formed CBOR item without tags or indefinite
// lengths, at nesting depth, so that its bytes can be decoded on their own.
// Whether they are canonical is for the decoder of those bytes to say.
func (d *cborReader) skip(depth int) bool {
	if depth >= maxSkipDepth {
		return false
	}
	major, arg, ok := d.head()
	if !ok {
		return false
	}
	switch major {
	case chain.CBORUint, chain.CBORNeg:
		return true
	case chain.CBORBytes, chain.CBORText:
		if arg > uint64(len(d.b)-d.i) {
			return false
		}
		d.i += int(arg)
		return true
	case chain.CBORArray, chain.CBORMap:
		items := arg
		if major == chain.CBORMap {
			if arg > uint64(len(d.b)) {
				return false
			}
			items = 2 * arg
		}
		if items > uint64(len(d.b)-d.i) { // every item takes a byte at least
			return false
		}
		for range items {
			if !d.skip(depth + 1) {
				return false
			}
		}
		return true
	case cborSimple:
		return true
	}
	return false // a tag
}

// cborSimple is the major type of CBOR's simple values and floats, which
// decodeSyncBlocks adds to chain's.
const cborSimple = 7
