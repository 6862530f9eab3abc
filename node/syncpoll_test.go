package node

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
	"github.com/waterchain/waterchain/p2p"
)

// TestPollTargets: a node that is caught up asks syncPollPeers peers at
// random and every hinted peer it is connected to; asked for all, or with
// no more than k peers, it asks every peer; over a few polls every peer is
// asked.
func TestPollTargets(t *testing.T) {
	peers := make([]chain.PubKey, 15)
	for i := range peers {
		peers[i][0] = byte(i + 1)
	}
	var gone chain.PubKey
	gone[0] = 0xff // hinted but not connected
	connected := map[chain.PubKey]bool{}
	for _, p := range peers {
		connected[p] = true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	asked := map[chain.PubKey]int{}
	const polls = 40
	for poll := range polls {
		hinted := map[chain.PubKey]struct{}{}
		if poll%4 == 0 {
			hinted[peers[poll%len(peers)]] = struct{}{}
			hinted[gone] = struct{}{}
		}
		got := pollTargets(peers, hinted, 3, false, rng.Shuffle)
		want := 3
		if poll%4 == 0 {
			want = 4
		}
		if len(got) != want {
			t.Fatalf("poll %d asks %d peers, want %d (3 at random, plus the connected hinted one)", poll, len(got), want)
		}
		seen := map[chain.PubKey]bool{}
		for _, p := range got {
			if !connected[p] || seen[p] {
				t.Fatalf("poll %d asks %x: not connected or twice", poll, p[:1])
			}
			seen[p] = true
			asked[p]++
		}
		for h := range hinted {
			if connected[h] && !seen[h] {
				t.Fatalf("poll %d leaves out the hinted peer %x", poll, h[:1])
			}
		}
	}
	if len(asked) != len(peers) {
		t.Fatalf("%d polls asked %d of %d peers", polls, len(asked), len(peers))
	}
	if got := pollTargets(peers, nil, 3, true, rng.Shuffle); len(got) != len(peers) {
		t.Fatalf("a poll of all asks %d of %d peers", len(got), len(peers))
	}
	if got := pollTargets(peers[:3], nil, 3, false, rng.Shuffle); len(got) != 3 {
		t.Fatalf("a poll of 3 peers with k = 3 asks %d", len(got))
	}
	if len(peers) != 15 || peers[0][0] != 1 {
		t.Fatal("pollTargets changed its argument")
	}
}

// TestSyncFindsThePeerAhead: an auditor that found itself level with its
// peers (four validators at genesis, short of a quorum of the seven) polls
// only some peers; when the one validator holding the chain joins, the
// auditor still finds it, among five peers, and catches up.
func TestSyncFindsThePeerAhead(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	const blocks = 40
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{
		Validators: 7, Auditors: 1, DevicesPerIndustry: 1,
		BasePort:    hometest.FreeBasePort(t, 8),
		GenesisTime: time.Now().Add(-10 * time.Minute).Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	buildSyncChain(t, nw, blocks) // in validators 1 and 2's stores
	tn := &testNet{t: t, nw: nw}
	defer tn.close()
	auditor := len(nw.Nodes) - 1
	a := tn.start(auditor)
	tn.nodes = append(tn.nodes, a)
	for i := 2; i < 6; i++ {
		tn.nodes = append(tn.nodes, tn.start(i))
	}
	waitFor(t, time.Minute, "the auditor to connect to validators 3-6", func() bool {
		return len(a.host.Peers()) >= 4
	})
	// Past a poll of every peer that found the auditor level, and a
	// sample: from here it samples.
	waitFor(t, time.Minute, "two status polls answered", func() bool {
		return statusRequests(t, a) >= 4+syncPollPeers
	})
	if a.syncing.Load() || a.Height(chain.LaneData) != 0 {
		t.Fatal("the auditor synced from validators at genesis")
	}
	v1 := tn.start(0)
	tn.nodes = append(tn.nodes, v1)
	waitFor(t, 2*time.Minute, "the auditor to sync validator 1's chain", func() bool {
		return a.Height(chain.LaneData) >= blocks/2 && a.Height(chain.LaneTx) >= blocks/2 || a.Err() != nil
	})
	if err := a.Err(); err != nil {
		t.Fatalf("auditor stopped: %v", err)
	}
	for _, lane := range chain.Lanes {
		got, err := a.Block(lane, blocks/2)
		if err != nil {
			t.Fatal(err)
		}
		want, err := v1.Block(lane, blocks/2)
		if err != nil {
			t.Fatal(err)
		}
		if got.Hash() != want.Hash() {
			t.Fatalf("auditor's %s/%d differs from validator 1's", lane, blocks/2)
		}
	}
}

// statusRequests is how many heads requests n sent that were answered.
func statusRequests(t *testing.T, n *Node) float64 {
	t.Helper()
	mfs, err := n.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "waterchain_p2p_requests_total" {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["protocol"] == protoSyncStatus && labels["direction"] == "out" && labels["result"] == "ok" {
				sum += m.GetCounter().GetValue()
			}
		}
		return sum
	}
	return 0
}

// TestBehindCountsQueuedBlocks: a validator whose commit writer still holds
// data blocks 11 and 12 (its store at 10) is level with a peer whose store
// is at 12, and with a vote of height 13 at its direct-vote door (a vote
// of 14 names its sender ahead for the next poll); it is behind a peer
// at 14 at once, and one at 13 at the second poll in a row. Comparing the
// stores' heights made it fetch blocks 11 and 12, which it held.
func TestBehindCountsQueuedBlocks(t *testing.T) {
	n := &Node{writer: newCommitWriter()}
	n.heads[chain.LaneData].Store(&chain.Header{Lane: chain.LaneData, Height: 10})
	n.heads[chain.LaneTx].Store(&chain.Header{Lane: chain.LaneTx, Height: 3})
	for h := uint64(11); h <= 12; h++ {
		n.writer.pending = append(n.writer.pending, &chain.Block{Header: chain.Header{Lane: chain.LaneData, Height: h}})
	}
	if got := n.Height(chain.LaneData); got != 10 {
		t.Fatalf("store height %d, want 10", got)
	}

	polls := []struct {
		data uint64
		want bool
	}{
		{12, false}, {12, false}, {12, false}, // level: 11 and 12 are queued here
		{13, false}, {13, true}, // one ahead twice
		{12, false}, {13, false}, // the count restarts
		{14, true}, // two ahead
	}
	behindOnce := map[chain.Lane]bool{}
	for i, p := range polls {
		if got := n.behind(syncStatusResp{Data: p.data, Tx: 3}, behindOnce); got != p.want {
			t.Errorf("poll %d: a peer at data %d: behind = %v, want %v", i, p.data, got, p.want)
		}
	}

	// Votes through the direct door, which notes the peers ahead.
	n.metrics = newMetrics(prometheus.NewRegistry())
	n.consensusSeen = newSigCache(consensusSeenMax)
	key, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	peer := key.Public()
	vote := func(height uint64) []byte {
		v := &chain.Vote{Type: chain.Prevote, Lane: chain.LaneData, Height: height, Validator: peer}
		v.Sign("behind", key)
		return chain.MustEncode(&wireConsensus{Vote: v, Sent: 1})
	}
	if res, _ := n.validateDirectVote(peer, vote(13)); res != p2p.Accept { // the height after the queued blocks: level
		t.Fatalf("a vote at height 13: %v, want Accept", res)
	}
	if hinted := n.syncHints.take(); len(hinted) != 0 {
		t.Errorf("a vote at height 13 hinted %d peers ahead; 12 is committed here", len(hinted))
	}
	n.validateDirectVote(peer, vote(14))
	if _, ok := n.syncHints.take()[peer]; !ok {
		t.Error("a vote at height 14 did not hint its peer ahead")
	}
}
