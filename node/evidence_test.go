package node

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
)

// TestEquivocationIsRecorded gossips evidence of a validator's double vote
// to a network: a node that receives it records it on the tx chain with a
// transaction of its own, every node ends up with the record, and the same
// equivocation is recorded once however many nodes report it.
func TestEquivocationIsRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 4, 0, 0)
	offender := nodeKey(t, tn.nw.Nodes[3].Home)
	vote := func(block string) *chain.Vote {
		v := &chain.Vote{Type: chain.Prevote, Lane: chain.LaneData, Height: 3, Round: 0, BlockHash: chain.HashBytes([]byte(block)), Validator: offender.Public()}
		v.Sign(tn.nodes[0].ChainID(), offender)
		return v
	}
	ev := &chain.Evidence{VoteA: vote("a"), VoteB: vote("b")}
	// Two nodes hear of it (as from gossip); each reports it.
	for _, n := range tn.nodes[:2] {
		n.evidenceCh <- ev
	}
	waitFor(t, 30*time.Second, "the evidence recorded on every node", func() bool {
		for _, n := range tn.nodes {
			recs, err := state.EvidenceList(n.state)
			if err != nil || len(recs) != 1 {
				return false
			}
		}
		return true
	})
	recs, _ := state.EvidenceList(tn.nodes[0].state)
	if recs[0].Offender != offender.Public() || recs[0].ID != ev.ID() {
		t.Fatalf("recorded %+v, want offender %s evidence %s", recs[0], offender.Public().Short(), ev.ID().Short())
	}
}
