package node

import (
	"context"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
	"github.com/waterchain/waterchain/p2p"
)

// TestGossipDropsCopiesOfHeldVotes: Rebroadcast sends every vote of a
// round again with a new Sent counter, which gossip takes for a new
// message. The door verifies and delivers a vote once; a copy of a vote
// the engine holds is ignored (not verified, not forwarded), while a copy
// of one the engine only buffered still gets through.
func TestGossipDropsCopiesOfHeldVotes(t *testing.T) {
	nw, n, d := txEngineOnly(t)
	h, err := home.Open(nw.Nodes[1].Home)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := h.LoadNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	vote := func(height uint64) *chain.Vote {
		v := &chain.Vote{Type: chain.Prevote, Lane: chain.LaneTx, Height: height, Validator: peer.Public()}
		v.Sign(n.chainID, peer)
		return v
	}
	sent := uint64(0)
	deliver := func(v *chain.Vote) (p2p.Result, any) {
		sent++
		return n.validateGossipConsensus(chain.LaneTx, chain.PubKey{}, chain.MustEncode(&wireConsensus{Vote: v, Sent: sent}))
	}

	now := vote(d.next)
	res, val := deliver(now)
	if res != p2p.Accept {
		t.Fatalf("first copy of a vote: %s, want accept", res)
	}
	n.stepConsensus(d, val.(laneMessage))
	if res, _ := deliver(now); res != p2p.Ignore {
		t.Fatalf("copy of a vote the engine holds: %s, want ignore", res)
	}
	forged := *now
	forged.Sig = append(chain.Signature{}, now.Sig...)
	forged.Sig[0] ^= 1
	if res, _ := deliver(&forged); res != p2p.Reject {
		t.Fatalf("the held vote with a broken signature: %s, want reject", res)
	}

	// A vote of the next height is buffered, not held: its copies must
	// still reach the engine.
	next := vote(d.next + 1)
	for i := range 2 {
		res, val := deliver(next)
		if res != p2p.Accept {
			t.Fatalf("copy %d of a buffered vote: %s, want accept", i+1, res)
		}
		n.stepConsensus(d, val.(laneMessage))
	}
}

// txEngineOnly writes a 4-validator network and opens validator-1 with its
// engines started but no host or loop, its tx lane's height begun: the
// doors can be called directly. The node is closed when the test ends.
func txEngineOnly(t *testing.T) (*home.Network, *Node, *driver) {
	t.Helper()
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 4, DevnetParams: true, BasePort: hometest.FreeBasePort(t, 4),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := openUnstarted(t, nw.Nodes[0].Home)
	t.Cleanup(func() { n.Close() })
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startEngines(); err != nil {
		t.Fatal(err)
	}
	d := n.drivers[chain.LaneTx]
	n.maybeStart(d, true)
	return nw, n, d
}
