package state

import (
	"math"

	"github.com/waterchain/waterchain/chain"
)

// Every reading a node checks or executes reads its device's data record,
// and every data block writes it once for each device with readings: on a
// busy network nearly every read finds a record changed since it was last
// decoded (BenchmarkReadingCycle). So DeviceData has a hand-written
// canonical encoder and a decoder of that form, without reflection. The
// encoder gives exactly the bytes of the generic one, and the decoder
// takes only what the encoder gives (it re-encodes and compares, as
// chain.Decode does); anything else it leaves to chain.Decode, which
// decides (TestDeviceDataCodecMatchesGeneric, FuzzDecodeDeviceData).

// CBOR major types the codec uses.
const (
	majorUint  = 0
	majorNeg   = 1
	majorArray = 4
	majorMap   = 5
)

// appendCBOR appends d's canonical encoding (as chain.Encode gives it) to
// dst.
func (d *DeviceData) appendCBOR(dst []byte) []byte {
	pairs := uint64(0)
	for _, set := range [...]bool{d.LastSeq != 0, d.LastTime != 0, d.Readings != 0, d.Missing != 0, d.LastHeight != 0, len(d.Gaps) != 0} {
		if set {
			pairs++
		}
	}
	dst = chain.AppendCBORHead(dst, majorMap, pairs)
	if d.LastSeq != 0 {
		dst = chain.AppendCBORHead(append(dst, 1), majorUint, d.LastSeq)
	}
	switch t := int64(d.LastTime); {
	case t > 0:
		dst = chain.AppendCBORHead(append(dst, 2), majorUint, uint64(t))
	case t < 0:
		dst = chain.AppendCBORHead(append(dst, 2), majorNeg, uint64(^t)) // -1-t
	}
	for key, v := range [...]uint64{3: d.Readings, 4: d.Missing, 5: d.LastHeight} {
		if v != 0 {
			dst = chain.AppendCBORHead(append(dst, byte(key)), majorUint, v)
		}
	}
	if len(d.Gaps) > 0 {
		dst = append(dst, 6)
		dst = chain.AppendCBORHead(dst, majorArray, uint64(len(d.Gaps)))
		for _, g := range d.Gaps {
			dst = append(dst, majorMap<<5|2, 1)
			dst = chain.AppendCBORHead(dst, majorUint, g.From)
			dst = append(dst, 2)
			dst = chain.AppendCBORHead(dst, majorUint, g.To)
		}
	}
	return dst
}

// decodeDeviceDataFast decodes b into d if b is the canonical encoding of a
// DeviceData with at most MaxOpenGaps gaps; ok is false for anything else
// (and d is left as it was), which the caller gives to chain.Decode.
func decodeDeviceDataFast(b []byte, out *DeviceData) (ok bool) {
	var dd DeviceData
	d := &dd
	r := headReader{b: b}
	major, pairs, ok := r.head()
	if !ok || major != majorMap || pairs > 6 {
		return false
	}
	for range pairs {
		major, key, ok := r.head()
		if !ok || major != majorUint || key < 1 || key > 6 {
			return false
		}
		major, v, ok := r.head()
		if !ok {
			return false
		}
		switch {
		case key == 2:
			switch {
			case major == majorUint && v <= math.MaxInt64:
				d.LastTime = chain.Time(v)
			case major == majorNeg && v <= math.MaxInt64:
				d.LastTime = chain.Time(-1 - int64(v))
			default:
				return false
			}
		case key == 6:
			if major != majorArray || v == 0 || v > MaxOpenGaps {
				return false
			}
			d.Gaps = make([]SeqRange, v)
			for i := range d.Gaps {
				g := &d.Gaps[i]
				if major, n, ok := r.head(); !ok || major != majorMap || n != 2 {
					return false
				}
				if major, k, ok := r.head(); !ok || major != majorUint || k != 1 {
					return false
				}
				if major, g.From, ok = r.head(); !ok || major != majorUint {
					return false
				}
				if major, k, ok := r.head(); !ok || major != majorUint || k != 2 {
					return false
				}
				if major, g.To, ok = r.head(); !ok || major != majorUint {
					return false
				}
			}
		default:
			if major != majorUint {
				return false
			}
			*[...]*uint64{1: &d.LastSeq, 3: &d.Readings, 4: &d.Missing, 5: &d.LastHeight}[key] = v
		}
	}
	if r.i != len(b) {
		return false
	}
	// Keys in order, each once, no zero value written out: exactly the
	// canonical form, which re-encodes to itself.
	var again [128]byte
	if string(d.appendCBOR(again[:0])) != string(b) {
		return false
	}
	*out = dd
	return true
}

// headReader reads CBOR item heads from b at i.
type headReader struct {
	b []byte
	i int
}

// head reads an item's head: its major type and argument, in the
// shortest form only, no indefinite lengths (chain.ReadCBORHead).
func (r *headReader) head() (major byte, arg uint64, ok bool) {
	major, arg, r.i, ok = chain.ReadCBORHead(r.b, r.i)
	return major, arg, ok
}
