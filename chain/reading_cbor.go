package chain

// A reading is encoded many times on its way to a block (its hash, its
// signing bytes, gossip, the proposal, the block's Merkle leaves, the
// store), so it has a hand-written canonical encoder. It gives exactly the
// bytes of the generic encoder (core deterministic CBOR of the struct tags
// of Reading); TestReadingCBORMatchesGeneric checks that on random readings.
//
// An encoding in a buffer of its own (Encode, SigningBytes, MarshalCBOR)
// is allocated at its exact length, which encodingLen computes without
// encoding. The generic encoder calls MarshalCBOR for every reading of a
// block or message it encodes or decodes (Decode encodes again to check
// the form), and copies what it returns: a buffer of a fixed 200 bytes
// took 208 for a typical signed reading of 147 (160 exactly sized), and
// for its 80 signing bytes (96).

// MarshalCBOR encodes r canonically, as the generic encoder would.
func (r Reading) MarshalCBOR() ([]byte, error) { return r.appendCBOR(nil, true), nil }

// EncodingLen is len(r.Encode()), computed without encoding: the store
// writes the lengths of the readings of a chunk before their encodings.
func (r *Reading) EncodingLen() int { return r.encodingLen(true) }

// appendCBOR appends the canonical encoding of r to dst, with or without its
// signature. A nil dst gets a buffer of the encoding's exact length.
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
		dst = make([]byte, 0, r.encodingLen(withSig))
	}
	dst = AppendCBORHead(dst, CBORMap, fields)
	dst = append(dst, 1)
	dst = appendCBORBytes(dst, r.Device[:])
	dst = append(dst, 2)
	dst = AppendCBORHead(dst, CBORUint, r.Seq)
	// Keys 3 to 10: the time and the measures, all integers.
	for i, v := range [...]int64{int64(r.Time), r.FlowRate, r.Volume, r.VolumeTotal,
		r.Conductivity, r.SuspendedSolids, r.Absorbance, r.Turbidity} {
		dst = append(dst, byte(3+i))
		dst = appendCBORInt(dst, v)
	}
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

// encodingLen is the length of what appendCBOR appends: a one-byte map
// head and a one-byte key per field, then each value.
func (r *Reading) encodingLen(withSig bool) int {
	n := 1 + 1 + cborBytesLen(len(r.Device)) + 1 + cborHeadLen(r.Seq)
	for _, v := range [...]int64{int64(r.Time), r.FlowRate, r.Volume, r.VolumeTotal,
		r.Conductivity, r.SuspendedSolids, r.Absorbance, r.Turbidity} {
		n += 1 + cborIntLen(v)
	}
	if r.ImageHash != nil {
		n += 1 + cborBytesLen(len(r.ImageHash))
	}
	if withSig && len(r.Sig) > 0 {
		n += 1 + cborBytesLen(len(r.Sig))
	}
	return n
}

// CBOR major types (RFC 8949 section 3.1) and the simple value null, for
// AppendCBORHead and the hand-written encoders and decoders of the chain's
// types here, in consensus (the WAL's records) and in node (messages).
const (
	CBORUint  = 0
	CBORNeg   = 1
	CBORBytes = 2
	CBORText  = 3
	CBORArray = 4
	CBORMap   = 5
	CBORNull  = 0xf6
)

// AppendCBORHead appends the shortest (canonical) head of a CBOR item of
// major type major (0 to 7: 4 is an array, 5 a map) and argument v: for
// an array or a map, its number of items. The store and block sync use it
// to assemble encodings from items already encoded.
func AppendCBORHead(dst []byte, major byte, v uint64) []byte {
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

// ReadCBORHead reads the head of the CBOR item at b[i:]: its major type,
// its argument (for an array or a map, its number of items; for a byte
// string, its length) and where the item's content starts. It takes only
// the shortest form of each argument, as AppendCBORHead writes it
// (canonical CBOR), and no indefinite lengths: ok is false for anything
// else, or when b ends inside the head. The hand-written decoders of the
// gossip door, block sync and the state's device records read with it.
func ReadCBORHead(b []byte, i int) (major byte, arg uint64, next int, ok bool) {
	if i < 0 || i >= len(b) {
		return 0, 0, i, false
	}
	c := b[i]
	i++
	major, ai := c>>5, c&31
	var size int
	switch {
	case ai < 24:
		return major, uint64(ai), i, true
	case ai == 24:
		size = 1
	case ai == 25:
		size = 2
	case ai == 26:
		size = 4
	case ai == 27:
		size = 8
	default:
		return 0, 0, i, false
	}
	if len(b)-i < size {
		return 0, 0, i, false
	}
	for _, x := range b[i : i+size] {
		arg = arg<<8 | uint64(x)
	}
	i += size
	// The shortest form: a longer one would not re-encode to itself.
	if least := [...]uint64{1: 24, 2: 0x100, 4: 0x1_0000, 8: 0x1_0000_0000}[size]; arg < least {
		return 0, 0, i, false
	}
	return major, arg, i, true
}

// cborHeadLen is the length of the head AppendCBORHead writes for v.
func cborHeadLen(v uint64) int {
	switch {
	case v < 24:
		return 1
	case v <= 0xff:
		return 2
	case v <= 0xffff:
		return 3
	case v <= 0xffff_ffff:
		return 5
	}
	return 9
}

// cborIntLen is the length of what appendCBORInt appends for v.
func cborIntLen(v int64) int {
	if v >= 0 {
		return cborHeadLen(uint64(v))
	}
	return cborHeadLen(uint64(^v))
}

// cborBytesLen is the length of a byte string of n bytes, head included.
func cborBytesLen(n int) int { return cborHeadLen(uint64(n)) + n }

func appendCBORInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return AppendCBORHead(dst, CBORUint, uint64(v))
	}
	return AppendCBORHead(dst, CBORNeg, uint64(^v)) // -1-v
}

func appendCBORBytes(dst, b []byte) []byte {
	return append(AppendCBORHead(dst, CBORBytes, uint64(len(b))), b...)
}
