package node

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
)

// TestValidatorSetChange removes a validator from a live network of four
// by the votes of three: the set it approves at tx height H signs from
// H+2, every node's blocks from there are certified by the three, the
// chain goes on without the fourth, and each node answers for every
// height the set its state records. Before the change each node was asked
// for the set of a tx height past its tip (validatorSets must not keep
// that answer: the change makes it wrong).
func TestValidatorSetChange(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 4, 0, 1)
	defer func() {
		if t.Failed() {
			tn.dump()
		}
	}()
	waitFor(t, 30*time.Second, "peers connected and a tx block", func() bool {
		for _, n := range tn.nodes {
			if len(n.host.Peers()) < 3 || n.Height(chain.LaneTx) < 1 {
				return false
			}
		}
		return true
	})
	ahead := tn.nodes[0].Height(chain.LaneTx) + 20
	for _, n := range tn.nodes {
		vs, err := committedChain{n}.ValidatorSetAt(ahead)
		if err != nil || vs.Size() != 4 {
			t.Fatalf("%s: set of tx height %d before the change: %v %v", n.name, ahead, vs, err)
		}
	}

	leaver := tn.nodeKey(3).Public()
	for i := range 3 {
		submitTx(t, tn.nodes[i], tn.nodeKey(i), &chain.Tx{ValidatorChange: &chain.ValidatorChange{Validator: leaver, Remove: true}})
	}
	var from uint64 // H+2
	waitFor(t, 60*time.Second, "the change approved", func() bool {
		recs, err := state.ValidatorSetHistory(tn.nodes[0].state)
		if err != nil || len(recs) < 2 {
			return false
		}
		from = recs[len(recs)-1].From
		return true
	})
	if from > ahead {
		t.Fatalf("change approved at tx height %d, past the height %d asked for before it", from-2, ahead)
	}
	// The removed validator steps away; the three go on.
	tn.nodes[3].Close()
	live := tn.nodes[:3]
	var dataTop uint64
	waitFor(t, 60*time.Second, "tx blocks signed by the new set on the three", func() bool {
		for _, n := range live {
			if n.Height(chain.LaneTx) < from+2 {
				return false
			}
		}
		dataTop = live[0].Height(chain.LaneData)
		return true
	})
	waitFor(t, 60*time.Second, "data blocks after the change", func() bool {
		for _, n := range live {
			if n.Height(chain.LaneData) < dataTop+2 {
				return false
			}
		}
		return true
	})

	for _, n := range live {
		top := n.Height(chain.LaneTx)
		for h := uint64(1); h <= max(top, ahead); h++ {
			got, err := committedChain{n}.ValidatorSetAt(h)
			if err != nil {
				t.Fatalf("%s: set of tx height %d: %v", n.name, h, err)
			}
			want, err := state.ValidatorSetAt(n.state, h)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != want.Hash() {
				t.Fatalf("%s: set of tx height %d is %d validators, its state records %d", n.name, h, got.Size(), want.Size())
			}
			if wantSize := 4 - btoi(h >= from); got.Size() != wantSize {
				t.Fatalf("%s: set of tx height %d has %d validators, want %d (change from %d)", n.name, h, got.Size(), wantSize, from)
			}
		}
		for h := uint64(1); h <= top; h++ {
			b, err := n.Block(chain.LaneTx, h)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range b.Cert.Sigs {
				if h >= from && s.Validator == leaver {
					t.Fatalf("%s: tx block %d certified by the removed validator", n.name, h)
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
