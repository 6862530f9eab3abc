package node

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
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
