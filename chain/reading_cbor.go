package chain

// A reading is encoded many times on its way to a block (its hash, its
// signing bytes, gossip, the proposal, the block's Merkle leaves, the
// store), so it has a hand-written canonical encoder. It gives exactly the
// bytes of the generic encoder (core deterministic CBOR of the struct tags
// of Reading); TestReadingCBORMatchesGeneric checks that on random readings.

// MarshalCBOR encodes r canonically, as the generic encoder would.
func (r Reading) MarshalCBOR() ([]byte, error) { return r.appendCBOR(nil, true), nil }

// appendCBOR appends the canonical encoding of r to dst, with or without its
// signature.
func (r *Reading) appendCBOR(dst []byte, withSig bool) []byte {
	fields := uint64(10)
	if r.ImageHash != nil {
		fields++
	}
	sig := withSig && len(r.Sig) > 0
	if sig {
		fields++
	}
	if dst == nil {
		dst = make([]byte, 0, 200)
	}
	dst = appendCBORHead(dst, cborMap, fields)
	dst = append(dst, 1)
	dst = appendCBORBytes(dst, r.Device[:])
	dst = append(dst, 2)
	dst = appendCBORHead(dst, cborUint, r.Seq)
	dst = append(dst, 3)
	dst = appendCBORInt(dst, int64(r.Time))
	dst = append(dst, 4)
	dst = appendCBORInt(dst, r.FlowRate)
	dst = append(dst, 5)
	dst = appendCBORInt(dst, r.Volume)
	dst = append(dst, 6)
	dst = appendCBORInt(dst, r.VolumeTotal)
	dst = append(dst, 7)
	dst = appendCBORInt(dst, r.Conductivity)
	dst = append(dst, 8)
	dst = appendCBORInt(dst, r.SuspendedSolids)
	dst = append(dst, 9)
	dst = appendCBORInt(dst, r.Absorbance)
	dst = append(dst, 10)
	dst = appendCBORInt(dst, r.Turbidity)
	if r.ImageHash != nil {
		dst = append(dst, 11)
		dst = appendCBORBytes(dst, r.ImageHash[:])
	}
	if sig {
		dst = append(dst, 15)
		dst = appendCBORBytes(dst, r.Sig)
	}
	return dst
}

// CBOR major types.
const (
	cborUint  = 0
	cborNeg   = 1
	cborBytes = 2
	cborMap   = 5
)

// appendCBORHead appends the shortest head of major type major and
// argument v.
func appendCBORHead(dst []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(dst, m|byte(v))
	case v <= 0xff:
		return append(dst, m|24, byte(v))
	case v <= 0xffff:
		return append(dst, m|25, byte(v>>8), byte(v))
	case v <= 0xffff_ffff:
		return append(dst, m|26, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(dst, m|27, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendCBORInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return appendCBORHead(dst, cborUint, uint64(v))
	}
	return appendCBORHead(dst, cborNeg, uint64(^v)) // -1-v
}

func appendCBORBytes(dst, b []byte) []byte {
	return append(appendCBORHead(dst, cborBytes, uint64(len(b))), b...)
}
