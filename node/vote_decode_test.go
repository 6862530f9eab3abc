package node

import (
	"math"
	"reflect"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/consensus"
	"github.com/waterchain/waterchain/p2p"
)

// decodeTestVotes are n votes of n validators signed for chainID, for
// block at height and round of lane, alternately prevotes and precommits.
func decodeTestVotes(t testing.TB, n int, lane chain.Lane, height uint64, round uint32, block chain.Hash) []*chain.Vote {
	t.Helper()
	vs := make([]*chain.Vote, n)
	for i := range vs {
		seed := make([]byte, 32)
		seed[0], seed[1] = byte(i), byte(i>>8)
		k, err := chain.NewPrivateKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = &chain.Vote{Type: chain.Prevote + chain.VoteType(i%2), Lane: lane, Height: height, Round: round, BlockHash: block, Validator: k.Public()}
		vs[i].Sign("decode-test", k)
	}
	return vs
}

// wireVotesSamples are vote messages as nodes send them: a single vote
// sent directly, one gossiped with Sent, a vote for nil, a proposer's
// relay of 11, with extreme heights and rounds.
func wireVotesSamples(t testing.TB) [][]byte {
	t.Helper()
	block := chain.HashBytes([]byte("block"))
	relay := decodeTestVotes(t, 11, chain.LaneData, 1234, 0, block)
	wide := decodeTestVotes(t, 2, chain.LaneTx, math.MaxUint64, chain.MaxRound, block)
	nilVote := decodeTestVotes(t, 1, chain.LaneTx, 24, 23, chain.Hash{})[0]
	return [][]byte{
		chain.MustEncode(&wireConsensus{Vote: relay[0]}),
		chain.MustEncode(&wireConsensus{Vote: relay[1], Sent: 7}),
		chain.MustEncode(&wireConsensus{Vote: nilVote, Sent: 1 << 40}),
		chain.MustEncode(&wireConsensus{Votes: relay}),
		chain.MustEncode(&wireConsensus{Votes: []*chain.Vote{wide[1], nilVote, wide[0]}, Sent: math.MaxUint64}),
	}
}

// checkDecodeWireVotes: what decodeWireVotes accepts, chain.Decode
// accepts with the same value, and the keys are consensusKey's.
func checkDecodeWireVotes(t *testing.T, data []byte) bool {
	t.Helper()
	got, keys, ok := decodeWireVotes(data)
	if !ok {
		return false
	}
	var want wireConsensus
	if err := chain.Decode(data, &want); err != nil {
		t.Fatalf("fast path took what chain.Decode refuses (%v): %x", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path and chain.Decode differ on %x:\nfast %+v\nslow %+v", data, got, want)
	}
	votes := want.Votes
	if want.Vote != nil {
		votes = []*chain.Vote{want.Vote}
	}
	if len(keys) != len(votes) {
		t.Fatalf("%d keys for %d votes", len(keys), len(votes))
	}
	for i, v := range votes {
		if key, _ := consensusKey(consensus.Message{Vote: v}); keys[i] != key {
			t.Fatalf("vote %d: key %s, consensusKey %s", i, keys[i].Short(), key.Short())
		}
		if keys[i] != chain.HashBytes(chain.MustEncode(v)) {
			t.Fatalf("vote %d: key %s is not the hash of its encoding", i, keys[i].Short())
		}
	}
	return true
}

func TestDecodeWireVotes(t *testing.T) {
	for i, data := range wireVotesSamples(t) {
		if !checkDecodeWireVotes(t, data) {
			t.Fatalf("sample %d: the common form fell back to chain.Decode", i)
		}
	}
	big := chain.MustEncode(&wireConsensus{Votes: decodeTestVotes(t, maxVoteBatch, chain.LaneTx, 9, 1, chain.Hash{1})})
	if !checkDecodeWireVotes(t, big) {
		t.Fatalf("a relay of maxVoteBatch (%d) votes fell back", maxVoteBatch)
	}
}

// TestDecodeWireVotesFallsBack: the forms it does not take go to
// chain.Decode (which accepts some of them, and the doors then refuse
// them or take them the slow way).
func TestDecodeWireVotesFallsBack(t *testing.T) {
	vs := decodeTestVotes(t, maxVoteBatch+1, chain.LaneTx, 9, 1, chain.Hash{1})
	unsigned := *vs[0]
	unsigned.Sig = nil
	shortSig := *vs[0]
	shortSig.Sig = shortSig.Sig[:63]
	badType := *vs[0]
	badType.Type = 0
	for _, tc := range []struct {
		name string
		w    wireConsensus
	}{
		{"empty", wireConsensus{}},
		{"Sent alone", wireConsensus{Sent: 1}},
		{"a proposal", wireConsensus{Proposal: &chain.Proposal{Lane: chain.LaneTx, Height: 3}}},
		{"a vote and a proposal", wireConsensus{Proposal: &chain.Proposal{Lane: chain.LaneTx, Height: 3}, Vote: vs[0]}},
		{"a vote and votes", wireConsensus{Vote: vs[0], Votes: vs[1:3]}},
		{"too many votes", wireConsensus{Votes: vs}},
		{"a nil vote in a relay", wireConsensus{Votes: []*chain.Vote{vs[0], nil}}},
		{"an unsigned vote", wireConsensus{Vote: &unsigned}},
		{"a 63-byte signature", wireConsensus{Votes: []*chain.Vote{vs[1], &shortSig}}},
	} {
		data := chain.MustEncode(&tc.w)
		if _, _, ok := decodeWireVotes(data); ok {
			t.Errorf("%s: taken by the fast path", tc.name)
		}
		// decodeConsensus decodes it by reflection and keys its votes
		// (none when one is nil: the doors refuse that).
		w, keys, err := decodeConsensus(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		votes := w.Votes
		if w.Vote != nil {
			votes = []*chain.Vote{w.Vote}
		}
		if tc.name == "a nil vote in a relay" {
			votes = nil
		}
		if len(keys) != len(votes) {
			t.Fatalf("%s: %d keys for %d votes", tc.name, len(keys), len(votes))
		}
		for i, v := range votes {
			if want, _ := consensusKey(consensus.Message{Vote: v}); keys[i] != want {
				t.Errorf("%s: vote %d keyed %s, want %s", tc.name, i, keys[i].Short(), want.Short())
			}
		}
	}
	// A vote of type 0 is the decoder's to take: ValidateBasic refuses it.
	if !checkDecodeWireVotes(t, chain.MustEncode(&wireConsensus{Vote: &badType})) {
		t.Error("a vote of type 0 fell back")
	}
}

// TestDecodeWireVotesMutations changes every byte of each sample to
// several values, and cuts each sample at every length: the fast path
// either falls back or agrees with chain.Decode.
func TestDecodeWireVotesMutations(t *testing.T) {
	fast := 0
	for _, data := range wireVotesSamples(t) {
		for i := range data {
			for _, v := range []byte{data[i] ^ 1, data[i] ^ 0x20, data[i] + 1, 0x00, 0x18, 0x1f, 0x40, 0xa0, 0xf6, 0xff} {
				if v == data[i] {
					continue
				}
				m := append([]byte(nil), data...)
				m[i] = v
				if checkDecodeWireVotes(t, m) {
					fast++
				}
			}
		}
		for l := range len(data) {
			if checkDecodeWireVotes(t, data[:l]) {
				t.Fatalf("a message cut at %d of %d bytes decoded", l, len(data))
			}
		}
		if checkDecodeWireVotes(t, append(append([]byte(nil), data...), 0)) {
			t.Fatal("a message with a byte after its end decoded")
		}
	}
	// Changed values inside a field (a height, a hash, the signature)
	// still decode fast: the check is not vacuous.
	if fast == 0 {
		t.Fatal("no mutation decoded on the fast path")
	}
}

// TestDecodeWireVotesOwnsValues: the votes do not alias the message.
func TestDecodeWireVotesOwnsValues(t *testing.T) {
	data := wireVotesSamples(t)[3]
	w, _, ok := decodeWireVotes(data)
	if !ok {
		t.Fatal("fell back")
	}
	var want wireConsensus
	if err := chain.Decode(data, &want); err != nil {
		t.Fatal(err)
	}
	clear(data)
	_ = append(w.Votes[0].Sig, 1, 2, 3)
	if !reflect.DeepEqual(w, want) {
		t.Fatal("votes changed after the message or a signature was written to")
	}
}

// TestVoteMessagesTakeFastPath: the messages a node sends with votes (a
// vote gossiped by encodeConsensus, one sent directly, a relay, as
// broadcastConsensus, relayFallback and sendVotes encode them) all decode
// on the fast path, so it is not silently dead; and the doors pass each
// vote with consensusKey's key.
func TestVoteMessagesTakeFastPath(t *testing.T) {
	nw, n, d := txEngineOnly(t)
	var vs []*chain.Vote
	for i, nn := range nw.Nodes[1:] {
		k := nodeKey(t, nn.Home)
		v := &chain.Vote{Type: chain.Precommit, Lane: chain.LaneTx, Height: d.next, Round: uint32(i), Validator: k.Public()}
		if i > 0 {
			v.BlockHash = chain.HashBytes([]byte("block"))
		}
		v.Sign(n.chainID, k)
		vs = append(vs, v)
	}
	from := vs[0].Validator
	key := func(v *chain.Vote) chain.Hash {
		k, _ := consensusKey(consensus.Message{Vote: v})
		return k
	}
	for _, v := range vs {
		gossiped := n.encodeConsensus(chain.LaneTx, consensus.Message{Vote: v})
		direct := encodeWireVotes(wireConsensus{Vote: v})
		for name, data := range map[string][]byte{"gossiped": gossiped, "direct": direct} {
			if !checkDecodeWireVotes(t, data) {
				t.Fatalf("%s vote %s fell back to chain.Decode", name, v)
			}
		}
		res, val := n.validateGossipConsensus(chain.LaneTx, from, gossiped)
		if lm, ok := val.(laneMessage); res != p2p.Accept || !ok || lm.key != key(v) || !reflect.DeepEqual(lm.msg.Vote, v) {
			t.Fatalf("gossip door on %s: %s %+v", v, res, val)
		}
		res, val = n.validateDirectVote(from, direct)
		if lm, ok := val.(laneMessage); res != p2p.Accept || !ok || lm.key != key(v) || !reflect.DeepEqual(lm.msg.Vote, v) {
			t.Fatalf("direct door on %s: %s %+v", v, res, val)
		}
	}
	relay := encodeWireVotes(wireConsensus{Votes: vs})
	if !checkDecodeWireVotes(t, relay) {
		t.Fatal("a relay fell back to chain.Decode")
	}
	res, val := n.validateDirectVote(from, relay)
	lms, ok := val.([]laneMessage)
	if res != p2p.Accept || !ok || len(lms) != len(vs) {
		t.Fatalf("direct door on a relay: %s %+v", res, val)
	}
	for i, lm := range lms {
		if lm.key != key(vs[i]) || !reflect.DeepEqual(lm.msg.Vote, vs[i]) {
			t.Fatalf("relay vote %d: %+v", i, lm)
		}
	}
}

func FuzzDecodeWireVotes(f *testing.F) {
	for _, data := range wireVotesSamples(f) {
		f.Add(data)
		for _, i := range []int{1, len(data) / 2, len(data) - 1} {
			m := append([]byte(nil), data...)
			m[i] ^= 0x01
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeWireVotes(t, data) })
}

// BenchmarkDecodeWireVotes: a single vote and a proposer's relay of 11,
// decoded and keyed by the vote door's fast path and by chain.Decode with
// consensusKey (the way before it).
//
//	go test ./node -run '^$' -bench DecodeWireVotes -benchmem
func BenchmarkDecodeWireVotes(b *testing.B) {
	votes := decodeTestVotes(b, 11, chain.LaneData, 123_456, 2, chain.HashBytes([]byte("block")))
	for _, m := range []struct {
		name string
		data []byte
	}{
		{"one", chain.MustEncode(&wireConsensus{Vote: votes[0]})},
		{"relay11", chain.MustEncode(&wireConsensus{Votes: votes})},
	} {
		b.Run(m.name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := decodeWireVotes(m.data); !ok {
					b.Fatal("fell back")
				}
			}
		})
		b.Run(m.name+"/chain.Decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var w wireConsensus
				if err := chain.Decode(m.data, &w); err != nil {
					b.Fatal(err)
				}
				if w.Vote != nil {
					consensusKey(consensus.Message{Vote: w.Vote})
				}
				for _, v := range w.Votes {
					consensusKey(consensus.Message{Vote: v})
				}
			}
		})
	}
}
