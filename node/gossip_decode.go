package node

import (
	"bytes"
	"crypto/ed25519"
	"math"

	"github.com/waterchain/waterchain/chain"
)

// decodeWireReadings decodes a readings gossip message as chain.Decode
// does, and hashes each reading, without reflection. A CPU profile of four
// validators as processes at the process bench's peak (issue 16) put three
// quarters of the gossip door's own work (signatures aside) in
// chain.Decode of these messages; they are the bulk of what a validator
// decodes.
//
// It takes only the form a node sends (wireReadings of one to
// maxGossipReadings readings, each with a 64-byte signature, canonical
// CBOR) and reports ok=false for anything else, which the caller then
// decodes with chain.Decode: what it accepts chain.Decode accepts with the
// same value (FuzzDecodeWireReadings). Every reading must re-encode to its
// very bytes, as chain.Decode demands, so those bytes are its canonical
// encoding and their SHA-256 its hash.
func decodeWireReadings(data []byte) (w wireReadings, hashes []chain.Hash, ok bool) {
	if len(data) > chain.MaxMessageSize {
		return w, nil, false
	}
	d := cborReader{b: data}
	major, pairs, ok := d.head()
	if !ok || major != chain.CBORMap || pairs < 1 || pairs > 2 {
		return w, nil, false
	}
	if major, key, ok := d.head(); !ok || major != chain.CBORUint || key != 1 {
		return w, nil, false
	}
	major, n, ok := d.head()
	if !ok || major != chain.CBORArray || n < 1 || n > maxGossipReadings {
		return w, nil, false
	}
	rs := make([]chain.Reading, n)
	sigs := make([]byte, int(n)*ed25519.SignatureSize)
	w.Readings = make([]*chain.Reading, n)
	hashes = make([]chain.Hash, n)
	var images []chain.Hash
	var canon [chain.ReadingEncodingCap]byte // no allocation per reading
	for i := range rs {
		start := d.i
		if !d.reading(&rs[i], sigs[i*ed25519.SignatureSize:(i+1)*ed25519.SignatureSize:(i+1)*ed25519.SignatureSize], &images) {
			return wireReadings{}, nil, false
		}
		enc := data[start:d.i]
		if !bytes.Equal(rs[i].AppendEncoding(canon[:0]), enc) {
			return wireReadings{}, nil, false
		}
		w.Readings[i] = &rs[i]
		hashes[i] = chain.HashBytes(enc)
	}
	if pairs == 2 {
		if major, key, ok := d.head(); !ok || major != chain.CBORUint || key != 2 {
			return wireReadings{}, nil, false
		}
		major, sent, ok := d.head()
		if !ok || major != chain.CBORUint || sent == 0 { // omitempty: 0 is left out
			return wireReadings{}, nil, false
		}
		w.Sent = sent
	}
	if d.i != len(data) {
		return wireReadings{}, nil, false
	}
	return w, hashes, true
}

// encodeWireReadings is chain.MustEncode(&wireReadings{rs, sent}) without
// reflection: each reading is appended in turn to one buffer, where the
// generic encoder allocated and copied each reading's encoding and then
// checked it (TestEncodeWireReadingsMatchesGeneric). Every reading a node
// admits from a client is gossiped once in such a message.
func encodeWireReadings(rs []*chain.Reading, sent uint64) []byte {
	pairs := uint64(1)
	if sent != 0 { // omitempty
		pairs = 2
	}
	b := make([]byte, 0, 16+len(rs)*240) // a signed reading encodes to about 200 bytes
	b = chain.AppendCBORHead(b, chain.CBORMap, pairs)
	b = chain.AppendCBORHead(b, chain.CBORUint, 1)
	if rs == nil {
		b = append(b, chain.CBORNull)
	} else {
		b = chain.AppendCBORHead(b, chain.CBORArray, uint64(len(rs)))
	}
	for _, r := range rs {
		if r == nil {
			b = append(b, chain.CBORNull)
			continue
		}
		b = r.AppendEncoding(b)
	}
	if sent != 0 {
		b = chain.AppendCBORHead(b, chain.CBORUint, 2)
		b = chain.AppendCBORHead(b, chain.CBORUint, sent)
	}
	return b
}

// cborReader reads CBOR items from b at i.
type cborReader struct {
	b []byte
	i int
}

// head reads an item's head: its major type and argument, in the
// shortest form only, no indefinite lengths (chain.ReadCBORHead).
func (d *cborReader) head() (major byte, arg uint64, ok bool) {
	major, arg, d.i, ok = chain.ReadCBORHead(d.b, d.i)
	return major, arg, ok
}

// bytesOf reads a byte string of exactly n bytes.
func (d *cborReader) bytesOf(n int) ([]byte, bool) {
	major, l, ok := d.head()
	if !ok || major != chain.CBORBytes || l != uint64(n) || len(d.b)-d.i < n {
		return nil, false
	}
	b := d.b[d.i : d.i+n]
	d.i += n
	return b, true
}

// int64Item reads an integer that fits an int64.
func (d *cborReader) int64Item() (int64, bool) {
	major, arg, ok := d.head()
	if !ok || arg > math.MaxInt64 {
		return 0, false
	}
	switch major {
	case chain.CBORUint:
		return int64(arg), true
	case chain.CBORNeg:
		return -1 - int64(arg), true
	}
	return 0, false
}

// reading reads one reading into r, its signature into sig (64 bytes of
// its own), an image hash appended to *images. The caller checks that it
// re-encodes to the bytes read.
func (d *cborReader) reading(r *chain.Reading, sig []byte, images *[]chain.Hash) bool {
	major, fields, ok := d.head()
	if !ok || major != chain.CBORMap || fields < 10 || fields > 12 {
		return false
	}
	for range fields {
		major, key, ok := d.head()
		if !ok || major != chain.CBORUint {
			return false
		}
		switch {
		case key == 1:
			b, ok := d.bytesOf(len(r.Device))
			if !ok {
				return false
			}
			copy(r.Device[:], b)
		case key == 2:
			major, seq, ok := d.head()
			if !ok || major != chain.CBORUint {
				return false
			}
			r.Seq = seq
		case key >= 3 && key <= 10:
			v, ok := d.int64Item()
			if !ok {
				return false
			}
			*[...]*int64{(*int64)(&r.Time), &r.FlowRate, &r.Volume, &r.VolumeTotal,
				&r.Conductivity, &r.SuspendedSolids, &r.Absorbance, &r.Turbidity}[key-3] = v
		case key == 11:
			b, ok := d.bytesOf(len(chain.Hash{}))
			if !ok {
				return false
			}
			if cap(*images) == 0 {
				*images = make([]chain.Hash, 0, 16)
			}
			if len(*images) == cap(*images) { // a new array: earlier pointers stay valid
				*images = make([]chain.Hash, 0, 2*cap(*images))
			}
			*images = append(*images, chain.Hash(b))
			r.ImageHash = &(*images)[len(*images)-1]
		case key == 15:
			b, ok := d.bytesOf(len(sig))
			if !ok {
				return false
			}
			copy(sig, b)
			r.Sig = sig
		default:
			return false
		}
	}
	return true
}
