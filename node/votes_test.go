package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/consensus"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/p2p"
)

// TestDirectVoteDoor: the door of votes sent directly refuses anything but
// a well-formed vote, ignores a vote the engine holds or of a past height,
// and leaves the signature to the batch check, which fails exactly the
// forged votes of a batch.
func TestDirectVoteDoor(t *testing.T) {
	nw, n, d := txEngineOnly(t)
	var peers []*chain.PrivateKey
	for _, nn := range nw.Nodes[1:] {
		peers = append(peers, nodeKey(t, nn.Home))
	}
	vote := func(k *chain.PrivateKey, height uint64) *chain.Vote {
		v := &chain.Vote{Type: chain.Prevote, Lane: chain.LaneTx, Height: height, Validator: k.Public()}
		v.Sign(n.chainID, k)
		return v
	}
	door := func(w *wireConsensus) (p2p.Result, any) {
		return n.validateDirectVote(peers[0].Public(), chain.MustEncode(w))
	}

	v := vote(peers[0], d.next)
	res, val := door(&wireConsensus{Vote: v})
	if res != p2p.Accept {
		t.Fatalf("a vote: %s, want accept", res)
	}
	lm := val.(laneMessage)
	if lm.lane != chain.LaneTx || lm.msg.Vote == nil || lm.key.IsZero() {
		t.Fatalf("door value %+v", lm)
	}

	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("not cbor")},
		{"empty", chain.MustEncode(&wireConsensus{})},
		{"a proposal", chain.MustEncode(&wireConsensus{Proposal: &chain.Proposal{Lane: chain.LaneTx, Height: d.next}})},
		{"a vote without a signature", chain.MustEncode(&wireConsensus{Vote: func() *chain.Vote { u := *v; u.Sig = nil; return &u }()})},
		{"a vote of an unknown lane", chain.MustEncode(&wireConsensus{Vote: func() *chain.Vote { u := *v; u.Lane = 9; return &u }()})},
	} {
		if res, _ := n.validateDirectVote(peers[0].Public(), tc.data); res != p2p.Reject {
			t.Errorf("%s: %s, want reject", tc.name, res)
		}
	}

	// A proposer's relay passes as the votes it carries; one malformed
	// vote, or a relay beside a vote, rejects the message.
	unsigned := func() *chain.Vote { u := *v; u.Sig = nil; return &u }()
	v2 := vote(peers[1], d.next)
	res, val = door(&wireConsensus{Votes: []*chain.Vote{v, v2}})
	if got, ok := val.([]laneMessage); res != p2p.Accept || !ok || len(got) != 2 || got[0].key != lm.key || got[1].msg.Vote.Validator != v2.Validator {
		t.Fatalf("a relay of two votes: %s %+v, want both", res, val)
	}
	for name, w := range map[string]*wireConsensus{
		"a relay with an unsigned vote": {Votes: []*chain.Vote{v, unsigned}},
		"a relay beside a vote":         {Vote: v, Votes: []*chain.Vote{v2}},
		"a relay with a nil vote":       {Votes: []*chain.Vote{v, nil}},
	} {
		if res, _ := door(w); res != p2p.Reject {
			t.Errorf("%s: %s, want reject", name, res)
		}
	}

	// The batch check passes the good votes and fails only the forged one.
	forged := *vote(peers[1], d.next)
	forged.Sig = append(chain.Signature{}, forged.Sig...)
	forged.Sig[5] ^= 1
	other := *v
	other.Height++ // signed bytes changed after signing
	batch := []laneMessage{lm, voteMessage(&forged), voteMessage(vote(peers[2], d.next)), voteMessage(&other)}
	errs := verifyVotes(chain.NewBatchVerifier(4), n.chainID, batch)
	for i, want := range []bool{true, false, true, false} {
		if (errs[i] == nil) != want {
			t.Errorf("batch vote %d: err %v, want valid=%v", i, errs[i], want)
		}
		if errs[i] != nil && !errors.Is(errs[i], chain.ErrBadSignature) {
			t.Errorf("batch vote %d: err %v, want ErrBadSignature", i, errs[i])
		}
	}

	// Copies in one batch are checked once.
	if got := freshVotes([]laneMessage{lm, batch[2], lm, batch[2]}, n.consensusSeen); len(got) != 2 || got[0].key != lm.key || got[1].key != batch[2].key {
		t.Errorf("freshVotes kept %d of two votes twice each, want each once", len(got))
	}

	// Once the engine holds the vote, its copies are ignored unchecked.
	n.stepConsensus(d, lm)
	if got := freshVotes([]laneMessage{lm}, n.consensusSeen); len(got) != 0 {
		t.Errorf("freshVotes kept a vote the engine holds")
	}
	if res, _ := door(&wireConsensus{Vote: v}); res != p2p.Ignore {
		t.Errorf("a vote the engine holds: %s, want ignore", res)
	}
	// A relay of only votes the engine holds is ignored; with one it
	// lacks, that one passes.
	if res, _ := door(&wireConsensus{Votes: []*chain.Vote{v}}); res != p2p.Ignore {
		t.Errorf("a relay of a vote the engine holds: %s, want ignore", res)
	}
	if res, val := door(&wireConsensus{Votes: []*chain.Vote{v, v2}}); res != p2p.Accept || len(val.([]laneMessage)) != 1 {
		t.Errorf("a relay of a held vote and another: %s %+v, want the other alone", res, val)
	}
}

func voteMessage(v *chain.Vote) laneMessage {
	m := consensus.Message{Vote: v}
	key, _ := consensusKey(m)
	return laneMessage{lane: v.Lane, msg: m, key: key}
}

// TestConsensusTravelsDirect runs 4 validators with direct proposals from
// 4 validators: once connected, their votes and proposals reach each
// other on the direct protocols, and the consensus gossip topics carry
// (almost) nothing.
func TestConsensusTravelsDirect(t *testing.T) {
	tn := startTestNetWith(t, 4, 0, 1, testNetOptions{configure: func(_ int, cfg *config.Config) { cfg.P2P.DirectProposalsFrom = 4 }})
	heights := func() uint64 { return tn.nodes[0].Height(chain.LaneData) + tn.nodes[0].Height(chain.LaneTx) }
	waitFor(t, 2*time.Minute, "the first blocks", func() bool { return heights() >= 4 })
	votes0, proposals0, gossip0 := make([]float64, len(tn.nodes)), make([]float64, len(tn.nodes)), make([]float64, len(tn.nodes))
	for i, n := range tn.nodes {
		votes0[i], proposals0[i], gossip0[i] = consensusAccepted(t, n)
	}
	h0 := heights()
	waitFor(t, 2*time.Minute, "10 more heights", func() bool { return heights() >= h0+10 })
	for i, n := range tn.nodes {
		votes, proposals, gossip := consensusAccepted(t, n)
		votes, proposals, gossip = votes-votes0[i], proposals-proposals0[i], gossip-gossip0[i]
		// Over 10 heights: about 6 votes per height from the 3 peers (the
		// window's edges cut some), and the proposals of the 7 or 8
		// heights this node did not propose. On a loaded machine a peer
		// may drop for a moment, and while it is away a proposal goes by
		// gossip too: a few may arrive that way first, not most.
		if votes < 10*6/2 || proposals < 10/2 || gossip > proposals/3 {
			t.Errorf("node %d over 10 heights took %v votes and %v proposals sent directly and %v consensus messages by gossip; want at least 30 votes and 5 proposals directly, and at most a third as many by gossip", i, votes, proposals, gossip)
		}
	}
}

// consensusAccepted counts the consensus messages n accepted at its doors:
// votes and proposals sent directly, and messages by gossip.
func consensusAccepted(tb testing.TB, n *Node) (votes, proposals, gossip float64) {
	tb.Helper()
	for where, c := range acceptedMessages(tb, n) {
		switch {
		case where == "direct "+protoVotes:
			votes += c
		case where == "direct "+protoProposals:
			proposals += c
		case strings.HasPrefix(where, "gossip consensus"):
			gossip += c
		}
	}
	return votes, proposals, gossip
}

// acceptedMessages counts the messages n accepted at its doors, by
// "direct <protocol>" and "gossip <topic>".
func acceptedMessages(tb testing.TB, n *Node) map[string]float64 {
	tb.Helper()
	mfs, err := n.registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		kind := map[string]string{"waterchain_p2p_direct_validated_total": "direct", "waterchain_p2p_gossip_validated_total": "gossip"}[mf.GetName()]
		if kind == "" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var where, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "topic", "protocol":
					where = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if result == p2p.Accept.String() {
				out[kind+" "+where] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}
