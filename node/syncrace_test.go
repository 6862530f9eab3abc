package node

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/home"
)

// TestDecisionAfterSyncIsNotFatal: block sync may commit a height while
// the lane's engine is still deciding it (a validator that lags under
// load: its sync loop fetches the block, then the last precommit arrives
// and the engine decides the same block). The decision must be taken as
// already done, not stop the node with "is below the next height".
func TestDecisionAfterSyncIsNotFatal(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 4, 0, 1)
	defer func() {
		if t.Failed() {
			tn.dump()
		}
	}()
	waitFor(t, 60*time.Second, "a few blocks on both lanes", func() bool {
		return tn.nodes[0].Height(chain.LaneData) >= 2 && tn.nodes[0].Height(chain.LaneTx) >= 2
	})
	// Stop validator-4 and let the others move on without it.
	tn.nodes[3].Close()
	tn.nodes[3] = nil
	lag := tn.nodes[0].Height(chain.LaneTx)
	waitFor(t, 60*time.Second, "three more tx blocks", func() bool { return tn.nodes[0].Height(chain.LaneTx) >= lag+3 })

	// Reopen it without starting it, so this test is its loop.
	nn := tn.nw.Nodes[3]
	n := openUnstarted(t, tn.nw.Nodes[3].Home)
	defer n.Close()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startEngines(); err != nil {
		t.Fatal(err)
	}
	var blocks []*chain.Block
	for _, lane := range chain.Lanes {
		for h := n.Height(lane) + 1; h <= tn.nodes[0].Height(lane); h++ {
			b, err := tn.nodes[0].Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, b)
		}
	}
	if err := n.applySync(blocks, nil); err != nil {
		t.Fatalf("%s: sync: %v", nn.Name, err)
	}
	top := n.Height(chain.LaneTx)
	decided, err := n.Block(chain.LaneTx, top)
	if err != nil {
		t.Fatal(err)
	}
	// The engine, still at that height, now decides the synced block.
	n.commitDecided(n.drivers[chain.LaneTx], decided)
	if err := n.Err(); err != nil {
		t.Fatalf("a decision on a height block sync already committed stopped the node: %v", err)
	}
	if got := n.Height(chain.LaneTx); got != top {
		t.Fatalf("tx height %d after the decision, want %d", got, top)
	}
}

// openUnstarted builds the node of a home without starting it.
func openUnstarted(t *testing.T, dir string) *Node {
	t.Helper()
	h, err := home.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	g, err := h.LoadGenesis()
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.LoadNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
