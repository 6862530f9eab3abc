package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/mempool"
	"github.com/waterchain/waterchain/p2p"
)

// TestCompactProposalFetchesMissingReadings runs four validators over real
// libp2p. Readings go straight into the mempools of validators 1–3 and
// never through gossip, so validator 4 misses them: every data block that
// carries them reaches it as a compact proposal naming readings it does
// not hold, which it rebuilds by fetching them from its peers. The
// readings become final on all four, and validator 4 stores the full
// block.
func TestCompactProposalFetchesMissingReadings(t *testing.T) {
	tn := startTestNet(t, 4, 0, 2)
	for i, n := range tn.nodes {
		waitFor(t, 20*time.Second, "peers connected", func() bool { return len(n.host.Peers()) >= 3 })
		if !n.cfg.P2P.CompactProposals {
			t.Fatalf("node %d: compact proposals are off by default", i)
		}
	}
	const perDevice = 40
	var devs []*chain.PrivateKey
	for i := range tn.nw.Devices {
		devs = append(devs, tn.deviceKey(i))
	}
	at := time.Now().Add(-time.Second)
	var rs []*chain.Reading
	for seq := uint64(1); seq <= perDevice; seq++ {
		for _, dev := range devs {
			rs = append(rs, signedReading(tn.nodes[0].ChainID(), dev, seq, at.Add(time.Duration(seq)*time.Millisecond)))
		}
	}
	// Signatures verified (as the door does) so that the three can
	// propose them; validator 4 has neither the readings nor their
	// signatures.
	for _, n := range tn.nodes[:3] {
		c, err := n.readingChecker()
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range verifyReadings(n.sigs, n.chainID, rs, nil) {
			if err != nil {
				t.Fatalf("reading %d: %v", i, err)
			}
		}
		for _, r := range rs {
			if err := n.admitReading(c, r, r.Hash()); err != nil {
				t.Fatal(err)
			}
		}
		// Taken as gossiped once already, so that the 1 s regossip
		// (regossipStale) does not bring them to validator 4 either on a
		// slow machine.
		if got := n.readings.Stale(time.Now().Add(time.Hour), len(rs)); len(got) != len(rs) {
			t.Fatalf("%d readings marked gossiped, want %d", len(got), len(rs))
		}
		n.kick()
	}
	missing := tn.nodes[3]
	for _, n := range tn.nodes {
		for _, dev := range devs {
			waitFor(t, 30*time.Second, n.name+" has every reading final", func() bool {
				var dv api.Device
				return httpJSON(t, n, "GET", "/v1/devices/"+dev.Public().String(), nil, &dv) == 200 && dv.LastSeq == perDevice
			})
		}
	}
	fetched := counterValue(t, missing.compact.metrics.entries.WithLabelValues("fetched"))
	if fetched == 0 {
		tn.dump()
		t.Fatalf("validator 4 fetched no readings (rebuilt %v, fetched %v proposals)",
			counterValue(t, missing.compact.metrics.proposals.WithLabelValues("rebuilt")),
			counterValue(t, missing.compact.metrics.proposals.WithLabelValues("fetched")))
	}
	t.Logf("validator 4 fetched %v of %d readings", fetched, len(rs))
	// The stored blocks are full: every reading is in one of them. (The
	// state shows a block a moment before the head does.)
	waitFor(t, 10*time.Second, "validator 4's blocks holding every reading", func() bool {
		stored := 0
		for h := uint64(1); h <= missing.Height(chain.LaneData); h++ {
			b, err := missing.store.Block(chain.LaneData, h)
			if err != nil {
				t.Fatal(err)
			}
			stored += len(b.Readings)
			if b.ComputeEntriesRoot() != b.Header.EntriesRoot {
				t.Fatalf("stored block %d does not match its entries root", h)
			}
		}
		return stored >= len(rs)
	})
	var sentCompact float64
	for _, n := range tn.nodes {
		sentCompact += counterValue(t, n.compact.metrics.sentBytes.WithLabelValues("compact"))
	}
	if sentCompact == 0 {
		t.Fatal("no compact proposal was sent")
	}
}

// TestCompactProposalRefused breaks a compact proposal one way at a time
// at a real node's gossip door and fetch path: readings in an order or set
// other than the header's are rejected before the engine sees them; a
// peer answering a fetch with a reading not asked for is not believed; a
// reading whose signature is bad rebuilds but fails validation.
func TestCompactProposalRefused(t *testing.T) {
	tn := startTestNet(t, 4, 1, 1)
	n := tn.nodes[3]
	waitFor(t, 20*time.Second, "peers connected", func() bool { return len(n.host.Peers()) >= 4 })
	dev := tn.deviceKey(0)
	at := time.Now().Add(-time.Second)
	var rs []*chain.Reading
	for seq := uint64(1); seq <= 5; seq++ {
		rs = append(rs, signedReading(n.chainID, dev, seq, at.Add(time.Duration(seq)*time.Millisecond)))
	}
	hashes := readingHashes(rs)
	proposer := tn.nodeKey(0)

	// compact signs a compact proposal of readings rs by validator 1,
	// naming entries, at the data lane's next height.
	compact := func(rs []*chain.Reading, entries []chain.Hash) *compactProposal {
		parent, prev := n.parentOf(chain.LaneData)
		vs, err := n.validatorSet(chain.LaneData, n.Height(chain.LaneData)+1)
		if err != nil {
			t.Fatal(err)
		}
		tm := chain.TimeOf(time.Now())
		if parent != nil && tm <= parent.Time {
			tm = parent.Time + 1
		}
		b := &chain.Block{Header: chain.Header{
			ChainID: n.chainID, Lane: chain.LaneData, Height: n.Height(chain.LaneData) + 1, Time: tm, PrevHash: prev,
			Anchor: n.anchorFor(chain.LaneData), ValidatorsHash: vs.Hash(), Proposer: proposer.Public(),
			StateRoot: chain.HashBytes([]byte("not executed")),
		}, Readings: rs}
		b.Header.NumEntries = uint32(len(rs))
		b.Header.EntriesRoot = b.ComputeEntriesRoot()
		p := &chain.Proposal{Lane: chain.LaneData, Height: b.Header.Height, Round: 7, POLRound: -1, Block: b}
		p.Sign(n.chainID, proposer)
		c := compactOf(p, nil)
		c.Entries = append([]chain.Hash(nil), entries...)
		return c
	}
	door := func(c *compactProposal) (p2p.Result, any) {
		return n.validateGossipConsensus(chain.LaneData, proposer.Public(), chain.MustEncode(&wireConsensus{Compact: c, Sent: 1}))
	}
	invalid := func() float64 { return counterValue(t, n.compact.metrics.proposals.WithLabelValues("invalid")) }

	// The readings are at hand (from a recent block), not in the mempool,
	// so no block takes them meanwhile.
	n.compact.entries.add(rs, hashes)

	t.Run("valid", func(t *testing.T) {
		res, v := door(compact(rs, hashes))
		lm, ok := v.(laneMessage)
		if res != p2p.Accept || !ok {
			t.Fatalf("door: %v %T, want Accept with the rebuilt proposal", res, v)
		}
		b := lm.msg.Proposal.Block
		if len(b.Readings) != len(rs) || b.ValidateBasic() != nil || n.checkStateless(b) != nil {
			t.Fatalf("rebuilt block: %d readings, %v, %v", len(b.Readings), b.ValidateBasic(), n.checkStateless(b))
		}
		if err := lm.msg.Proposal.VerifySignature(n.chainID); err != nil {
			t.Fatalf("rebuilt proposal's signature: %v", err)
		}
	})
	t.Run("entries in another order", func(t *testing.T) {
		swapped := append([]chain.Hash(nil), hashes...)
		swapped[0], swapped[1] = swapped[1], swapped[0]
		before := invalid()
		if res, v := door(compact(rs, swapped)); res != p2p.Reject || v != nil {
			t.Fatalf("door: %v %v, want Reject", res, v)
		}
		if invalid() != before+1 {
			t.Fatalf("invalid proposals: %v, want %v", invalid(), before+1)
		}
	})
	t.Run("entry not in the block", func(t *testing.T) {
		other := signedReading(n.chainID, dev, 6, at)
		n.compact.entries.add([]*chain.Reading{other}, []chain.Hash{other.Hash()})
		changed := append([]chain.Hash(nil), hashes...)
		changed[4] = other.Hash()
		if res, _ := door(compact(rs, changed)); res != p2p.Reject {
			t.Fatalf("door: %v, want Reject", res)
		}
	})
	t.Run("entries count differs from header", func(t *testing.T) {
		if res, _ := door(compact(rs, hashes[:4])); res != p2p.Reject {
			t.Fatalf("door: %v, want Reject", res)
		}
	})
	t.Run("forged signature with readings missing", func(t *testing.T) {
		c := compact(rs, hashes)
		c.Entries[2] = chain.HashBytes([]byte("nobody has this"))
		c.Sig = append(chain.Signature(nil), c.Sig...)
		c.Sig[0] ^= 1
		if res, _ := door(c); res != p2p.Reject {
			t.Fatalf("door: %v, want Reject before fetching anything", res)
		}
	})
	t.Run("readings nobody has", func(t *testing.T) {
		unknown := signedReading(n.chainID, dev, 7, at.Add(time.Second))
		withUnknown := append(append([]*chain.Reading(nil), rs...), unknown)
		res, v := door(compact(withUnknown, readingHashes(withUnknown)))
		pc, ok := v.(pendingCompact)
		if res != p2p.Accept || !ok || len(pc.missing) != 1 {
			t.Fatalf("door: %v %T, want Accept with one reading to fetch", res, v)
		}
		missing := func() float64 { return counterValue(t, n.compact.metrics.proposals.WithLabelValues("missing")) }
		before := missing()
		n.wg.Add(1)
		n.completeCompact(pc) // every peer answers without it
		if missing() != before+1 {
			t.Fatalf("proposals not rebuilt: %v, want %v", missing(), before+1)
		}
	})
	t.Run("reading with a bad signature", func(t *testing.T) {
		bad := signedReading(n.chainID, dev, 6, at)
		bad.Sig = append(chain.Signature(nil), bad.Sig...)
		bad.Sig[5] ^= 1
		withBad := append(append([]*chain.Reading(nil), rs...), bad)
		n.compact.entries.add([]*chain.Reading{bad}, []chain.Hash{bad.Hash()})
		res, v := door(compact(withBad, readingHashes(withBad)))
		lm, ok := v.(laneMessage)
		if res != p2p.Accept || !ok {
			t.Fatalf("door: %v, want Accept (the block matches its header)", res)
		}
		if err := n.checkStateless(lm.msg.Proposal.Block); err == nil {
			t.Fatal("the rebuilt block with a forged reading passed its stateless checks")
		}
	})

	// A peer answering with a reading it was not asked for: the auditor's
	// key on a bare host, serving the entries protocol with a lie.
	tn.nodes[4].Close()
	audKey := tn.nodeKey(4)
	liar, err := p2p.New(context.Background(), p2p.Config{
		PrivateKey: audKey.Ed25519(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap: n.host.Addrs(), AllowedKeys: n.gen.PeerKeys(), NetworkID: n.chainID + "/" + n.genHash.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer liar.Close()
	other := signedReading(n.chainID, dev, 9, at)
	if err := liar.Handle(protoEntries, func(context.Context, chain.PubKey, []byte) ([]byte, error) {
		return chain.MustEncode(&entriesResponse{Readings: []*chain.Reading{other}}), nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the bare host connected", func() bool { return n.host.Connected(audKey.Public()) })
	wanted := signedReading(n.chainID, dev, 10, at)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.fetchEntries(ctx, []chain.PubKey{audKey.Public()}, []chain.Hash{wanted.Hash()}); !errors.Is(err, errEntriesMissing) || !errors.Is(err, errBadEntries) {
		t.Fatalf("fetch from the liar: %v, want %v and %v", err, errEntriesMissing, errBadEntries)
	}
	// An honest peer after the liar fills the gap.
	honest := tn.nodes[0]
	honest.compact.entries.add([]*chain.Reading{wanted}, []chain.Hash{wanted.Hash()})
	got, err := n.fetchEntries(ctx, []chain.PubKey{audKey.Public(), honest.key.Public()}, []chain.Hash{wanted.Hash()})
	if err != nil || len(got) != 1 || got[0].Hash() != wanted.Hash() {
		t.Fatalf("fetch from the liar, then an honest peer: %v %v", got, err)
	}
}

// nodeKey loads the node key of node i.
func (tn *testNet) nodeKey(i int) *chain.PrivateKey {
	tn.t.Helper()
	h, err := home.Open(tn.nw.Nodes[i].Home)
	if err != nil {
		tn.t.Fatal(err)
	}
	k, err := h.LoadNodeKey()
	if err != nil {
		tn.t.Fatal(err)
	}
	return k
}

// TestCompactProposalAheadOfTheStore: a validator whose commit writer holds
// data blocks 11 and 12 (its store at 10) works on height 13. A compact
// proposal for 13 naming a reading it lacks is taken for fetching, one for
// 14 too (the engine buffers it), one for 15 is too far ahead, and one for
// 12 is stale. Measured against the store, the proposal for 13 was
// ignored as far ahead: the validator sat out the round.
func TestCompactProposalAheadOfTheStore(t *testing.T) {
	const chainID = "compact-ahead"
	n := &Node{
		chainID:       chainID,
		writer:        newCommitWriter(),
		readings:      mempool.NewReadings(100),
		consensusSeen: newSigCache(consensusSeenMax),
		compact:       newCompactState(prometheus.NewRegistry()),
		metrics:       newMetrics(prometheus.NewRegistry()),
	}
	n.heads[chain.LaneData].Store(&chain.Header{Lane: chain.LaneData, Height: 10})
	for h := uint64(11); h <= 12; h++ {
		n.writer.pending = append(n.writer.pending, &chain.Block{Header: chain.Header{Lane: chain.LaneData, Height: h}})
	}
	proposer, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := chain.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := signedReading(chainID, dev, 1, time.Now())
	compact := func(height uint64) *compactProposal {
		b := &chain.Block{Header: chain.Header{
			ChainID: chainID, Lane: chain.LaneData, Height: height, Time: chain.TimeOf(time.Now()),
			PrevHash: chain.HashBytes([]byte("parent")), Anchor: chain.Anchor{Height: 1, Hash: chain.HashBytes([]byte("anchor"))},
			ValidatorsHash: chain.HashBytes([]byte("set")), Proposer: proposer.Public(),
			StateRoot: chain.HashBytes([]byte("state")),
		}, Readings: []*chain.Reading{r}}
		b.Header.NumEntries = 1
		b.Header.EntriesRoot = b.ComputeEntriesRoot()
		p := &chain.Proposal{Lane: chain.LaneData, Height: height, Round: 0, POLRound: -1, Block: b}
		p.Sign(chainID, proposer)
		return compactOf(p, nil)
	}
	for _, tc := range []struct {
		height uint64
		want   p2p.Result
	}{
		{12, p2p.Ignore}, {13, p2p.Accept}, {14, p2p.Accept}, {15, p2p.Ignore},
	} {
		res, v := n.validateGossipCompact(chain.LaneData, proposer.Public(), compact(tc.height))
		if res != tc.want {
			t.Errorf("a compact proposal for height %d: %v, want %v", tc.height, res, tc.want)
		}
		if _, ok := v.(pendingCompact); res == p2p.Accept && !ok {
			t.Errorf("height %d: accepted as %T, want a pending fetch", tc.height, v)
		}
	}
}
