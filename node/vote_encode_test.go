package node

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// voteEncodeSink keeps what a benchmark encodes on the heap, as a message
// queued for the peers is.
var voteEncodeSink []byte

// BenchmarkEncodeWireVotes: a single vote (sent directly, and gossiped
// with Sent) and a proposer's relay of 11, encoded as they are sent.
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
		b.Run(m.name+"/chain.MustEncode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				voteEncodeSink = chain.MustEncode(&m.w)
			}
		})
	}
}
