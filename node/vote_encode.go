package node

import (
	"github.com/waterchain/waterchain/chain"
)

// encodeWireVotes is chain.MustEncode(&w) written by hand for a message of
// votes: a vote sent directly or gossiped with Sent, or a proposer's relay
// (voterelay.go). Every vote a node signs or relays goes out in one, some
// dozens a height at 16 validators. The generic encoder took 0.6-0.85 us
// and 3 allocations for one vote and 3.3-5.2 us and 23 for a relay of 11;
// by hand 0.23-0.42 us and 1.8-2.5 us, one allocation each
// (BenchmarkEncodeWireVotes, on the shared 2-core machine). It is the
// encoding side of decodeWireVotes.
//
// It gives exactly chain.MustEncode's bytes for any w (core deterministic
// CBOR of wireConsensus's tags: integer keys in ascending order, empty
// fields left out, a nil vote in Votes as null), so the wire does not
// change (TestEncodeWireVotesMatchesGeneric, FuzzEncodeWireVotes;
// TestWireConsensusFields fails when wireConsensus gains a field). A w
// with a Proposal or Compact goes to chain.MustEncode.
func encodeWireVotes(w wireConsensus) []byte {
	if w.Proposal != nil || w.Compact != nil {
		return encodeConsensusGeneric(w)
	}
	pairs, votes := uint64(0), len(w.Votes)
	if w.Vote != nil {
		pairs, votes = pairs+1, votes+1
	}
	if w.Sent != 0 {
		pairs++
	}
	if len(w.Votes) > 0 {
		pairs++
	}
	// A message of signed votes fits: one allocation.
	b := make([]byte, 0, 16+votes*chain.VoteEncodingCap)
	b = chain.AppendCBORHead(b, chain.CBORMap, pairs)
	if w.Vote != nil {
		b = append(b, 2)
		b = w.Vote.AppendEncoding(b)
	}
	if w.Sent != 0 {
		b = append(b, 3)
		b = chain.AppendCBORHead(b, chain.CBORUint, w.Sent)
	}
	if len(w.Votes) > 0 {
		b = append(b, 5)
		b = chain.AppendVotesEncoding(b, w.Votes)
	}
	return b
}

// encodeConsensusGeneric is chain.MustEncode(&w), apart so that only its
// copy of w moves to the heap.
func encodeConsensusGeneric(w wireConsensus) []byte { return chain.MustEncode(&w) }
