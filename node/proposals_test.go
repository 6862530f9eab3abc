package node

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/p2p"
)

// TestDirectProposalDoor: the door of proposals sent directly takes the
// lane from the first byte and then judges as the lane's gossip door does;
// a wrong or unknown lane, a vote, or a message cut short is refused.
func TestDirectProposalDoor(t *testing.T) {
	_, n, d := txEngineOnly(t)
	ex, err := n.buildBlock(chain.LaneTx, d.next)
	if err != nil {
		t.Fatal(err)
	}
	p := &chain.Proposal{Lane: chain.LaneTx, Height: d.next, POLRound: -1, Block: ex.block}
	p.Sign(n.chainID, n.key)
	wire := chain.MustEncode(&wireConsensus{Proposal: p, Sent: 1})
	framed := func(lane byte, data []byte) []byte { return append([]byte{lane}, data...) }

	res, val := n.validateDirectProposal(n.key.Public(), framed(byte(chain.LaneTx), wire))
	lm, ok := val.(laneMessage)
	if res != p2p.Accept || !ok || lm.lane != chain.LaneTx || lm.msg.Proposal == nil || lm.key.IsZero() {
		t.Fatalf("a proposal: %s %+v, want accept with the proposal", res, val)
	}

	v := &chain.Vote{Type: chain.Prevote, Lane: chain.LaneTx, Height: d.next, Validator: n.key.Public()}
	v.Sign(n.chainID, n.key)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"a lane byte alone", []byte{byte(chain.LaneTx)}},
		{"an unknown lane", framed(9, wire)},
		{"the other lane", framed(byte(chain.LaneData), wire)},
		{"garbage", framed(byte(chain.LaneTx), []byte("not cbor"))},
		{"a vote", framed(byte(chain.LaneTx), chain.MustEncode(&wireConsensus{Vote: v}))},
	} {
		if res, _ := n.validateDirectProposal(n.key.Public(), tc.data); res != p2p.Reject {
			t.Errorf("%s: %s, want reject", tc.name, res)
		}
	}

	// Once the engine holds the proposal (consensusSeen has its key), its
	// copies are ignored.
	n.consensusSeen.Add(lm.key)
	if res, _ := n.validateDirectProposal(n.key.Public(), framed(byte(chain.LaneTx), wire)); res != p2p.Ignore {
		t.Errorf("a proposal the engine holds: %s, want ignore", res)
	}
}

// TestProposesDirect: proposals go straight to the peers with
// p2p.direct_proposals at any size, else from p2p.direct_proposals_from
// validators; 0 is never.
func TestProposesDirect(t *testing.T) {
	set := func(n int) *chain.ValidatorSet {
		keys := make([]chain.PubKey, n)
		for i := range keys {
			keys[i] = chain.PubKey{byte(i + 1)}
		}
		vs, err := chain.NewValidatorSet(keys)
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	for _, c := range []struct {
		always bool
		from   int
		size   int
		want   bool
	}{
		{false, 10, 4, false},
		{false, 10, 9, false},
		{false, 10, 10, true},
		{false, 10, 16, true},
		{false, 0, 16, false},
		{true, 0, 4, true},
		{true, 10, 4, true},
		{false, 4, 4, true},
	} {
		n := &Node{cfg: config.Default()}
		n.cfg.P2P.DirectProposals, n.cfg.P2P.DirectProposalsFrom = c.always, c.from
		if got := n.proposesDirect(set(c.size)); got != c.want {
			t.Errorf("direct_proposals %v, direct_proposals_from %d, %d validators: %v, want %v", c.always, c.from, c.size, got, c.want)
		}
	}
	if (&Node{cfg: config.Default()}).proposesDirect(nil) {
		t.Error("direct without a validator set")
	}
}
