package node

import (
	"net/http"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// TestFourValidatorsAndAnAuditor runs 4 validators and an auditor over
// loopback libp2p: readings submitted to one node are finalized on all,
// every node has identical block hashes at every height, and the auditor
// follows without voting.
func TestFourValidatorsAndAnAuditor(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 4, 1, 1)
	defer func() {
		if t.Failed() {
			tn.dump()
		}
	}()
	waitFor(t, 30*time.Second, "peers connected", func() bool {
		for _, n := range tn.nodes {
			if len(n.host.Peers()) < 4 {
				return false
			}
		}
		return true
	})
	// Readings of every genesis meter, each sent to a different node.
	now := time.Now()
	for i := range tn.nw.Devices {
		dev := tn.deviceKey(i)
		var batch []*chain.Reading
		for s := 1; s <= 20; s++ {
			batch = append(batch, signedReading(tn.nodes[0].ChainID(), dev, uint64(s), now.Add(time.Duration(s-20)*100*time.Millisecond)))
		}
		target := tn.nodes[i%4]
		var res api.SubmitReadingsResult
		if code := httpJSON(t, target, "POST", "/v1/readings", batch, &res); code != http.StatusAccepted {
			t.Fatalf("submit to %s: %d %+v", target.name, code, res)
		}
	}
	waitFor(t, 60*time.Second, "all readings final on every node, and idle tx blocks", func() bool {
		for _, n := range tn.nodes {
			if n.Height(chain.LaneTx) < 2 {
				return false
			}
			for i := range tn.nw.Devices {
				d, err := n.Device(tn.nw.Devices[i].PubKey)
				if err != nil || d.LastSeq != 20 {
					return false
				}
			}
		}
		return true
	})
	if tn.nodes[4].Role() != RoleAuditor {
		t.Fatalf("node 4 is a %s", tn.nodes[4].Role())
	}
	for _, n := range tn.nodes {
		if err := checkStateCache(n.state, n.store); err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
	}
	// Identical hashes at every height both lanes have on every node.
	for _, lane := range chain.Lanes {
		top := tn.nodes[0].Height(lane)
		for _, n := range tn.nodes {
			top = min(top, n.Height(lane))
		}
		if top == 0 {
			t.Fatalf("%s lane has no common height", lane)
		}
		for h := uint64(1); h <= top; h++ {
			want, err := tn.nodes[0].Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tn.nodes[1:] {
				got, err := n.Block(lane, h)
				if err != nil {
					t.Fatalf("%s: %s/%d: %v", n.name, lane, h, err)
				}
				if got.Hash() != want.Hash() {
					t.Fatalf("%s/%d: %s has %s, %s has %s", lane, h, tn.nodes[0].name, want.Hash().Short(), n.name, got.Hash().Short())
				}
			}
		}
	}
}
