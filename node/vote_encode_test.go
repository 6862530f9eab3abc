package node

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// checkEncodeWireVotes: encodeWireVotes(w) is chain.MustEncode(&w).
func checkEncodeWireVotes(t *testing.T, name string, w wireConsensus) []byte {
	t.Helper()
	got, want := encodeWireVotes(w), chain.MustEncode(&w)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: encodeWireVotes\n got %x\nwant %x", name, got, want)
	}
	return got
}

// TestEncodeWireVotesMatchesGeneric: the messages nodes send (a vote
// directly or gossiped with Sent, a relay of up to maxVoteBatch, votes for
// nil, extreme heights and rounds, Sent at every head size), which the
// vote door's fast path takes back as they were; and shapes nodes do not
// send, which still encode as chain.MustEncode encodes them.
func TestEncodeWireVotesMatchesGeneric(t *testing.T) {
	block := chain.HashBytes([]byte("block"))
	relay := decodeTestVotes(t, 11, chain.LaneData, 1234, 0, block)
	wide := decodeTestVotes(t, 2, chain.LaneTx, math.MaxUint64, chain.MaxRound, block)
	nilVote := decodeTestVotes(t, 1, chain.LaneTx, 24, 23, chain.Hash{})[0]
	big := decodeTestVotes(t, maxVoteBatch, chain.LaneTx, 9, 1, chain.Hash{1})
	sent := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	for i, s := range sent {
		for _, tc := range []struct {
			name string
			w    wireConsensus
		}{
			{"one", wireConsensus{Vote: relay[i%len(relay)], Sent: s}},
			{"nil vote", wireConsensus{Vote: nilVote, Sent: s}},
			{"wide", wireConsensus{Vote: wide[0], Sent: s}},
			{"relay", wireConsensus{Votes: relay[:1+i%len(relay)], Sent: s}},
			{"mixed relay", wireConsensus{Votes: []*chain.Vote{wide[1], nilVote, wide[0]}, Sent: s}},
			{"relay of maxVoteBatch", wireConsensus{Votes: big, Sent: s}},
		} {
			data := checkEncodeWireVotes(t, tc.name, tc.w)
			if !checkDecodeWireVotes(t, data) {
				t.Fatalf("%s, sent %d: the vote door's fast path refuses it", tc.name, s)
			}
			if back, _, _ := decodeWireVotes(data); !reflect.DeepEqual(back, tc.w) {
				t.Fatalf("%s, sent %d: decodes to %+v", tc.name, s, back)
			}
		}
	}
	unsigned := *relay[0]
	unsigned.Sig = nil
	oddSig := *relay[0]
	oddSig.Sig = make(chain.Signature, 300)
	for _, tc := range []struct {
		name string
		w    wireConsensus
	}{
		{"empty", wireConsensus{}},
		{"Sent alone", wireConsensus{Sent: 7}},
		{"empty relay", wireConsensus{Votes: []*chain.Vote{}}},
		{"a vote and votes", wireConsensus{Vote: relay[0], Votes: relay[1:4], Sent: 3}},
		{"a nil vote in a relay", wireConsensus{Votes: []*chain.Vote{relay[0], nil}}},
		{"an unsigned vote", wireConsensus{Vote: &unsigned}},
		{"a 300-byte signature", wireConsensus{Votes: []*chain.Vote{&oddSig, relay[1]}}},
		{"a zero vote", wireConsensus{Vote: &chain.Vote{}}},
		{"a proposal", wireConsensus{Proposal: &chain.Proposal{Lane: chain.LaneTx, Height: 3, POLRound: -1}, Sent: 2}},
		{"a compact proposal", wireConsensus{Compact: &compactProposal{}, Vote: relay[0]}},
	} {
		checkEncodeWireVotes(t, tc.name, tc.w)
	}
}

// TestWireConsensusFields: wireConsensus has the fields encodeWireVotes
// writes or hands to chain.MustEncode; a new one fails here before it
// could go unwritten.
func TestWireConsensusFields(t *testing.T) {
	typ := reflect.TypeFor[wireConsensus]()
	var fields []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		fields = append(fields, f.Name+" "+f.Type.String()+" "+f.Tag.Get("cbor"))
	}
	want := []string{
		"Proposal *chain.Proposal 1,keyasint,omitempty",
		"Vote *chain.Vote 2,keyasint,omitempty",
		"Sent uint64 3,keyasint,omitempty",
		"Compact *node.compactProposal 4,keyasint,omitempty",
		"Votes []*chain.Vote 5,keyasint,omitempty",
	}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("wireConsensus has fields %q; encodeWireVotes knows %q: update vote_encode.go", fields, want)
	}
}

// FuzzEncodeWireVotes: encodeWireVotes is chain.MustEncode on messages of
// votes of any shape.
func FuzzEncodeWireVotes(f *testing.F) {
	f.Add(uint8(0b001), uint64(0), uint8(0), uint8(2), uint8(1), uint64(1234), uint32(0), []byte("block"), []byte("validator"), make([]byte, 64))
	f.Add(uint8(0b011), uint64(7), uint8(0), uint8(1), uint8(2), uint64(math.MaxUint64), uint32(chain.MaxRound), []byte{}, []byte{1}, []byte{})
	f.Add(uint8(0b100), uint64(0), uint8(11), uint8(2), uint8(1), uint64(24), uint32(23), make([]byte, 32), make([]byte, 32), make([]byte, 64))
	f.Add(uint8(0b111), uint64(1<<40), uint8(255), uint8(255), uint8(255), uint64(1<<32), uint32(math.MaxUint32), []byte{1}, []byte{2}, make([]byte, 300))
	f.Fuzz(func(t *testing.T, fields uint8, sent uint64, n, typ, lane uint8, height uint64, round uint32, hash, validator, sig []byte) {
		vote := func(i int) *chain.Vote {
			v := &chain.Vote{Type: chain.VoteType(typ), Lane: chain.Lane(lane), Height: height + uint64(i), Round: round, Sig: sig}
			copy(v.BlockHash[:], hash)
			copy(v.Validator[:], validator)
			return v
		}
		var w wireConsensus
		if fields&1 != 0 {
			w.Vote = vote(0)
		}
		if fields&2 != 0 {
			w.Sent = sent
		}
		if fields&4 != 0 {
			w.Votes = []*chain.Vote{}
		}
		for i := range int(n) {
			if i%5 == 4 && fields&8 != 0 {
				w.Votes = append(w.Votes, nil)
				continue
			}
			w.Votes = append(w.Votes, vote(i))
		}
		data := checkEncodeWireVotes(t, "fuzzed", w)
		checkDecodeWireVotes(t, data)
	})
}

// voteEncodeSink keeps what a benchmark encodes on the heap, as a message
// queued for the peers is.
var voteEncodeSink []byte

// BenchmarkEncodeWireVotes: a single vote (sent directly, and gossiped
// with Sent) and a proposer's relay of 11, by hand (encodeWireVotes) and
// by the generic encoder (as they were sent before).
//
//	go test ./node -run '^$' -bench EncodeWireVotes -benchmem
func BenchmarkEncodeWireVotes(b *testing.B) {
	votes := decodeTestVotes(b, 11, chain.LaneData, 123_456, 2, chain.HashBytes([]byte("block")))
	for _, m := range []struct {
		name string
		w    wireConsensus
	}{
		{"one", wireConsensus{Vote: votes[0]}},
		{"one-sent", wireConsensus{Vote: votes[0], Sent: 123_456_789}},
		{"relay11", wireConsensus{Votes: votes}},
	} {
		b.Run(m.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				voteEncodeSink = encodeWireVotes(m.w)
			}
		})
		b.Run(m.name+"/chain.MustEncode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				voteEncodeSink = chain.MustEncode(&m.w)
			}
		})
	}
}
