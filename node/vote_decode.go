package node

import (
	"bytes"
	"crypto/ed25519"
	"math"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/consensus"
)

// decodeWireVotes decodes a consensus message that carries votes as
// chain.Decode does, without reflection, and hands back each vote's
// consensus key (consensusKey: the hash of its canonical encoding) hashed
// from the bytes it came in. At 16 validators as processes each node
// spent a few percent of its CPU on the CBOR of votes by reflection:
// chain.Decode of every vote message (decode, then a full re-encode to
// check the form) and a second encode for its key. Here a single vote
// takes 0.36-0.51 us and 3 allocations against 1.4-2.2 us and 10, a
// proposer's relay of 11 votes 3.5-5.1 us and 3 against 12-19 us and 82
// (BenchmarkDecodeWireVotes, on the shared 2-core machine).
//
// It takes only the forms nodes send: a wireConsensus of one Vote (by
// itself directly, with Sent by gossip) or of one to maxVoteBatch Votes
// (a relay, voterelay.go), optionally with Sent, each vote signed with a
// 64-byte signature, all canonical CBOR. It reports ok=false for anything
// else, which the caller then decodes with chain.Decode: what it accepts
// chain.Decode accepts with the same value (FuzzDecodeWireVotes). keys[i]
// is the key of w.Vote (i = 0) or of w.Votes[i]. Each vote must re-encode
// to its very bytes, as chain.Decode demands, so those bytes are its
// canonical encoding and their hash its key.
func decodeWireVotes(data []byte) (w wireConsensus, keys []chain.Hash, ok bool) {
	if len(data) > chain.MaxMessageSize {
		return w, nil, false
	}
	d := cborReader{b: data}
	major, pairs, ok := d.head()
	if !ok || major != chain.CBORMap || pairs < 1 || pairs > 2 {
		return w, nil, false
	}
	var last uint64 // keys in ascending order, each once
	for range pairs {
		major, key, ok := d.head()
		if !ok || major != chain.CBORUint || key <= last {
			return wireConsensus{}, nil, false
		}
		last = key
		switch key {
		case 2: // Vote
			var vs []*chain.Vote
			if vs, keys, ok = d.votes(1); !ok {
				return wireConsensus{}, nil, false
			}
			w.Vote = vs[0]
		case 3: // Sent
			major, sent, ok := d.head()
			if !ok || major != chain.CBORUint || sent == 0 { // omitempty: 0 is left out
				return wireConsensus{}, nil, false
			}
			w.Sent = sent
		case 5: // Votes
			major, n, ok := d.head()
			// A signed vote takes more than 128 bytes: a short message
			// does not make it allocate for maxVoteBatch votes.
			if !ok || major != chain.CBORArray || n < 1 || n > maxVoteBatch || n*128 > uint64(len(data)-d.i) {
				return wireConsensus{}, nil, false
			}
			if w.Votes, keys, ok = d.votes(int(n)); !ok {
				return wireConsensus{}, nil, false
			}
		default:
			return wireConsensus{}, nil, false
		}
	}
	// Exactly one of Vote and Votes: Sent alone, or both, is not taken.
	if (w.Vote == nil) == (w.Votes == nil) || d.i != len(data) {
		return wireConsensus{}, nil, false
	}
	return w, keys, true
}

// decodedVote is a vote with room for its signature: one allocation for
// both, and the vote does not alias the message.
type decodedVote struct {
	vote chain.Vote
	sig  [ed25519.SignatureSize]byte
}

// votes reads n votes, each checked to be the canonical encoding of what
// was read, and hashes each one's bytes.
func (d *cborReader) votes(n int) (vs []*chain.Vote, keys []chain.Hash, ok bool) {
	slots := make([]decodedVote, n)
	vs = make([]*chain.Vote, n)
	keys = make([]chain.Hash, n)
	var canon [chain.VoteEncodingCap]byte // no allocation per vote
	for i := range slots {
		s := &slots[i]
		start := d.i
		if !d.vote(&s.vote, s.sig[:]) {
			return nil, nil, false
		}
		enc := d.b[start:d.i]
		if !bytes.Equal(s.vote.AppendEncoding(canon[:0]), enc) {
			return nil, nil, false
		}
		vs[i], keys[i] = &s.vote, chain.HashBytes(enc)
	}
	return vs, keys, true
}

// vote reads one signed vote into v, its signature into sig (64 bytes of
// its own). Its fields come in the one order the encoder writes them.
func (d *cborReader) vote(v *chain.Vote, sig []byte) bool {
	if major, fields, ok := d.head(); !ok || major != chain.CBORMap || fields != 7 {
		return false
	}
	var typ, lane, round uint64
	for _, f := range [...]struct {
		key uint64
		dst *uint64
	}{{1, &typ}, {2, &lane}, {3, &v.Height}, {4, &round}} {
		if !d.key(f.key) {
			return false
		}
		major, x, ok := d.head()
		if !ok || major != chain.CBORUint {
			return false
		}
		*f.dst = x
	}
	// chain.Decode refuses what does not fit the field's type.
	if typ > math.MaxUint8 || lane > math.MaxUint8 || round > math.MaxUint32 {
		return false
	}
	v.Type, v.Lane, v.Round = chain.VoteType(typ), chain.Lane(lane), uint32(round)
	for _, f := range [...]struct {
		key uint64
		dst []byte
	}{{5, v.BlockHash[:]}, {6, v.Validator[:]}, {15, sig}} {
		if !d.key(f.key) {
			return false
		}
		b, ok := d.bytesOf(len(f.dst))
		if !ok {
			return false
		}
		copy(f.dst, b)
	}
	v.Sig = sig[:len(sig):len(sig)]
	return true
}

// key reads a map key, which must be the integer want.
func (d *cborReader) key(want uint64) bool {
	major, key, ok := d.head()
	return ok && major == chain.CBORUint && key == want
}

// decodeConsensus decodes a consensus message as chain.Decode does, the
// forms decodeWireVotes takes without reflection, and gives the
// consensusKey of each vote it carries: keys[i] is that of w.Vote (i = 0)
// or else of w.Votes[i]; none for a proposal.
func decodeConsensus(data []byte) (w wireConsensus, keys []chain.Hash, err error) {
	if w, keys, ok := decodeWireVotes(data); ok {
		return w, keys, nil
	}
	if err := chain.Decode(data, &w); err != nil {
		return wireConsensus{}, nil, err
	}
	votes := w.Votes
	if w.Vote != nil {
		votes = []*chain.Vote{w.Vote}
	}
	for _, v := range votes {
		if v == nil {
			return w, nil, nil // refused by the caller's checks
		}
		key, _ := consensusKey(consensus.Message{Vote: v})
		keys = append(keys, key)
	}
	return w, keys, nil
}
