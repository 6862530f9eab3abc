package chain

// A vote is encoded for every signature check (its signing bytes), and the
// vote door checks each vote that arrives against its encoding, a few
// hundred times a height at 16 validators, so like a reading it has a
// hand-written canonical encoder. It gives exactly the bytes of the
// generic encoder (core deterministic CBOR of Vote's struct tags), which
// TestVoteCBORMatchesGeneric and FuzzVoteCBORMatchesGeneric check. Vote has
// no MarshalCBOR: the generic encoder of the messages and blocks that
// carry votes is left as it was.

// VoteEncodingCap bytes hold the canonical encoding of any vote signed
// with a key (a 64-byte signature): 160 bytes at the widest height, round,
// type and lane (TestVoteEncodingCap). A buffer of that capacity takes a
// vote's encoding without allocating.
const VoteEncodingCap = 160

// AppendEncoding appends v's canonical encoding, chain.Encode(v), to dst.
func (v *Vote) AppendEncoding(dst []byte) []byte { return v.appendCBOR(dst, true) }

// AppendVotesEncoding appends votes as chain.Encode encodes a []*Vote: an
// array of each vote's encoding, null for a nil one (the WAL's proof of
// lock, a relay of votes).
func AppendVotesEncoding(dst []byte, votes []*Vote) []byte {
	dst = AppendCBORHead(dst, CBORArray, uint64(len(votes)))
	for _, v := range votes {
		if v == nil {
			dst = append(dst, CBORNull)
			continue
		}
		dst = v.AppendEncoding(dst)
	}
	return dst
}

// AppendSigningBytes appends v's signing bytes (its canonical encoding
// without the signature) to dst.
func (v *Vote) AppendSigningBytes(dst []byte) []byte { return v.appendCBOR(dst, false) }

// appendCBOR appends the canonical encoding of v to dst, with or without
// its signature: a map of integer keys in ascending order, the signature
// (key 15) left out when empty (omitempty).
func (v *Vote) appendCBOR(dst []byte, withSig bool) []byte {
	fields := uint64(6)
	sig := withSig && len(v.Sig) > 0
	if sig {
		fields++
	}
	dst = AppendCBORHead(dst, CBORMap, fields)
	dst = append(dst, 1)
	dst = AppendCBORHead(dst, CBORUint, uint64(v.Type))
	dst = append(dst, 2)
	dst = AppendCBORHead(dst, CBORUint, uint64(v.Lane))
	dst = append(dst, 3)
	dst = AppendCBORHead(dst, CBORUint, v.Height)
	dst = append(dst, 4)
	dst = AppendCBORHead(dst, CBORUint, uint64(v.Round))
	dst = append(dst, 5)
	dst = appendCBORBytes(dst, v.BlockHash[:])
	dst = append(dst, 6)
	dst = appendCBORBytes(dst, v.Validator[:])
	if sig {
		dst = append(dst, 15)
		dst = appendCBORBytes(dst, v.Sig)
	}
	return dst
}
