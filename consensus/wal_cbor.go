package consensus

import (
	"github.com/waterchain/waterchain/chain"
)

// FileWAL encodes a record at every signature of the engine. By reflection
// (chain.Encode) a prevote's record took 0.8-1.1 us and 4 allocations, a
// precommit's with its block of 25 readings and the 11 prevotes of its
// proof of lock (16 validators) 18-20 us and 57; written by hand into a
// buffer the WAL keeps, 0.05-0.08 us and none, and 13-19 us and 32
// (BenchmarkWALEncode, medians 0.055 and 15 us, on the shared 2-core
// machine). The block alone still goes through chain.Encode, and is most
// of what is left: its header and entries are chain's to encode, and a
// copy of that here would drift from it.
//
// appendRecord gives exactly chain.Encode's bytes (core deterministic CBOR
// of the struct tags: a map of integer keys in ascending order, empty
// fields left out), so files written before it replay and Prune writes
// what it did (TestRecordCBORMatchesGeneric, FuzzRecordCBORMatchesGeneric;
// TestRecordCBORFields fails when Record or chain.Proposal gains a field).

// appendRecord appends chain.Encode(rec) to dst. It fails only where
// chain.Encode of rec's block would.
func appendRecord(dst []byte, rec *Record) ([]byte, error) {
	pairs := uint64(0)
	for _, set := range [...]bool{rec.Proposal != nil, rec.Vote != nil, rec.Block != nil, len(rec.POL) > 0} {
		if set {
			pairs++
		}
	}
	dst = chain.AppendCBORHead(dst, chain.CBORMap, pairs)
	var err error
	if rec.Proposal != nil {
		dst = append(dst, 1)
		if dst, err = appendProposal(dst, rec.Proposal); err != nil {
			return nil, err
		}
	}
	if rec.Vote != nil {
		dst = append(dst, 2)
		dst = rec.Vote.AppendEncoding(dst)
	}
	if rec.Block != nil {
		dst = append(dst, 3)
		if dst, err = appendBlock(dst, rec.Block); err != nil {
			return nil, err
		}
	}
	if len(rec.POL) > 0 {
		dst = append(dst, 4)
		dst = chain.AppendVotesEncoding(dst, rec.POL)
	}
	return dst, nil
}

// appendProposal appends chain.Encode(p): its signature (key 15) left out
// when empty, its block null when missing.
func appendProposal(dst []byte, p *chain.Proposal) ([]byte, error) {
	fields := uint64(5)
	if len(p.Sig) > 0 {
		fields++
	}
	dst = chain.AppendCBORHead(dst, chain.CBORMap, fields)
	dst = append(dst, 1)
	dst = chain.AppendCBORHead(dst, chain.CBORUint, uint64(p.Lane))
	dst = append(dst, 2)
	dst = chain.AppendCBORHead(dst, chain.CBORUint, p.Height)
	dst = append(dst, 3)
	dst = chain.AppendCBORHead(dst, chain.CBORUint, uint64(p.Round))
	dst = append(dst, 4)
	if p.POLRound >= 0 {
		dst = chain.AppendCBORHead(dst, chain.CBORUint, uint64(p.POLRound))
	} else {
		dst = chain.AppendCBORHead(dst, chain.CBORNeg, uint64(^int64(p.POLRound))) // -1-n
	}
	dst = append(dst, 5)
	if p.Block == nil {
		dst = append(dst, chain.CBORNull)
	} else {
		var err error
		if dst, err = appendBlock(dst, p.Block); err != nil {
			return nil, err
		}
	}
	if len(p.Sig) > 0 {
		dst = append(dst, 15)
		dst = chain.AppendCBORHead(dst, chain.CBORBytes, uint64(len(p.Sig)))
		dst = append(dst, p.Sig...)
	}
	return dst, nil
}

// appendBlock appends chain.Encode(b): a block nested in a record encodes
// as it does alone.
func appendBlock(dst []byte, b *chain.Block) ([]byte, error) {
	enc, err := chain.Encode(b)
	if err != nil {
		return nil, err
	}
	return append(dst, enc...), nil
}
