package node

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
	"github.com/waterchain/waterchain/node/keys"
	"github.com/waterchain/waterchain/p2p"
)

// TestGossipIgnoresHeldReadings: a reading that is waiting in the mempool
// comes again in peers' regossip and in the mesh's forwards. The gossip
// door neither checks it again (signature, state) nor forwards a message
// of such readings only (Ignore); a message that also carries a new
// reading passes with the new one alone, and a forged reading beside a
// held one is still rejected.
func TestGossipIgnoresHeldReadings(t *testing.T) {
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 4, DevnetParams: true, DevicesPerIndustry: 1,
		BasePort: hometest.FreeBasePort(t, 4),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := openUnstarted(t, nw.Nodes[0].Home)
	t.Cleanup(func() { n.Close() })
	dev, err := keys.Load(nw.Devices[0].KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r1 := signedReading(n.chainID, dev, 1, now.Add(-2*time.Second))
	r2 := signedReading(n.chainID, dev, 2, now.Add(-time.Second))
	sent := uint64(0)
	deliver := func(rs ...*chain.Reading) (p2p.Result, []*chain.Reading) {
		t.Helper()
		sent++
		res, val := n.validateGossipReadings(chain.PubKey{}, encodeWireReadings(rs, sent))
		if res != p2p.Accept {
			return res, nil
		}
		hr := val.(hashedReadings)
		for i, r := range hr.readings {
			if hr.hashes[i] != r.Hash() {
				t.Fatalf("reading %d passed with hash %s, want %s", i, hr.hashes[i].Short(), r.Hash().Short())
			}
		}
		n.onGossipReadings(p2p.Message{Value: val})
		return res, hr.readings
	}

	if res, got := deliver(r1); res != p2p.Accept || len(got) != 1 || !n.readings.Has(r1.Hash()) {
		t.Fatalf("first copy of reading 1: %s with %d readings, in the mempool %v; want accept, 1, true", res, len(got), n.readings.Has(r1.Hash()))
	}
	if res, _ := deliver(r1); res != p2p.Ignore {
		t.Fatalf("a copy of a held reading: %s, want ignore", res)
	}
	res, got := deliver(r1, r2)
	if res != p2p.Accept || len(got) != 1 || got[0].Hash() != r2.Hash() {
		t.Fatalf("held reading 1 with new reading 2: %s with %d readings; want accept with reading 2 alone", res, len(got))
	}
	if n.readings.Len() != 2 {
		t.Fatalf("%d readings waiting, want 2", n.readings.Len())
	}
	r3 := signedReading(n.chainID, dev, 3, now)
	r3.Sig = append(chain.Signature{}, r3.Sig...)
	r3.Sig[0] ^= 1
	if res, _ := deliver(r1, r3); res != p2p.Reject {
		t.Fatalf("held reading 1 with a forged reading: %s, want reject", res)
	}
}

// TestRegossipPick: of the nodes holding a stale reading, the one whose
// door admitted it gossips it again, and of the others about
// regossipHolders, each picked by a hash of the reading and its key; with
// as few nodes as that, every one. When every holder sent it, each stale
// reading crossed the network n·(n−1) times.
func TestRegossipPick(t *testing.T) {
	const nodes, readings = 16, 2000
	selves := make([]chain.PubKey, nodes)
	for i := range selves {
		k, err := chain.NewPrivateKey(seed("node", i))
		if err != nil {
			t.Fatal(err)
		}
		selves[i] = k.Public()
	}
	dev, err := chain.NewPrivateKey(seed("meter", 0))
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]*chain.Reading, readings)
	for i := range rs {
		rs[i] = signedReading("pick", dev, uint64(i+1), time.Unix(1_700_000_000, 0))
	}
	none := func(chain.Hash) bool { return false }
	senders := make(map[chain.Hash]int)
	for i, self := range selves {
		got := regossipPick(append([]*chain.Reading(nil), rs...), none, self, nodes)
		if share := float64(len(got)) / readings; share < 0.08 || share > 0.18 {
			t.Errorf("node %d sends %.3f of the stale readings it did not admit, want about %d/%d", i, share, regossipHolders, nodes)
		}
		for _, r := range got {
			senders[r.Hash()]++
		}
	}
	total := 0
	for _, c := range senders {
		total += c
	}
	if mean := float64(total) / readings; mean < 1.8 || mean > 2.2 {
		t.Errorf("each stale reading is sent again by %.2f nodes on average, want about %d", mean, regossipHolders)
	}

	own := rs[7].Hash()
	isOwn := func(h chain.Hash) bool { return h == own }
	for i, self := range selves {
		got := regossipPick(append([]*chain.Reading(nil), rs[:10]...), isOwn, self, nodes)
		found := false
		for _, r := range got {
			found = found || r.Hash() == own
		}
		if !found {
			t.Fatalf("node %d does not send again a reading its door admitted", i)
		}
	}
	if got := regossipPick(append([]*chain.Reading(nil), rs...), none, selves[0], regossipHolders); len(got) != readings {
		t.Fatalf("with %d nodes, a node sends %d of %d stale readings, want all", regossipHolders, len(got), readings)
	}
}

func seed(label string, i int) []byte {
	s := sha256.Sum256(fmt.Appendf(nil, "%s-%d", label, i))
	return s[:]
}
