package state

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// goldenDataLane is the digest of TestDataLaneGolden's run, worked out by
// the code before the data lane's allocations were cut (commit f979852):
// every change, root and error of the run must stay what it was then.
const goldenDataLane = "0531ea1d9e0452a928061bad86f0e00b2cd62198535c26b3e30a5fe5962d345d"

// TestDataLaneGolden pins, as one digest, everything the data lane gives
// in a seeded run of 60 data blocks: each reading's answer at the door
// (ReadingChecker) and in the proposer's builder (its error text, or
// none), and each block's changes and state root. The readings are drawn
// to take every path: new meters (their first record is an inserted
// key), sequence jumps opening gaps, late readings filling them, replays,
// readings outside the window, a meter revoked and one registered
// midway, and strangers. State roots and changes are consensus: a node
// or auditor that computed them otherwise would split from the network,
// so a change of the digest is a change of the protocol, not a detail.
//
// The run is held to the same results over a Cache (the root from its
// tree, views from its decoded records) and over a MemStore (the root
// walked) as it goes.
func TestDataLaneGolden(t *testing.T) {
	g := testGenesis()
	meters := []string{"saver-meter", "hog-meter", "buyer-meter"}
	for i := range 12 {
		name := fmt.Sprintf("golden-meter-%d", i)
		meters = append(meters, name)
		ind := &g.Industries[i%len(g.Industries)]
		ind.Devices = append(ind.Devices, GenesisDevice{Key: key(name).Public()})
	}
	f := newFixtureWith(t, g)
	genesis, err := GenesisChanges(g)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	c.Apply(genesis)
	txBlock := func(at chain.Time, txs ...*chain.Tx) {
		t.Helper()
		changes, _, err := ExecuteTxBlock(f.store, f.src, f.g, f.txHeader(at), txs)
		if err != nil {
			t.Fatalf("tx block %d: %v", f.txHeight+1, err)
		}
		f.store.Apply(changes)
		c.Apply(changes)
		f.txHeight, f.txTime = f.txHeight+1, at
	}

	digest := sha256.New()
	put := func(b []byte) {
		digest.Write(binary.AppendUvarint(nil, uint64(len(b))))
		digest.Write(b)
	}
	putErr := func(err error) {
		if err == nil {
			put(nil)
		} else {
			put([]byte(err.Error()))
		}
	}
	rng := rand.New(rand.NewPCG(17, 2026))
	t0 := at(time.Minute)
	var anchor uint64
	for height := uint64(1); height <= 60; height++ {
		bt := t0 + chain.Time(height)*2000
		switch height {
		case 15: // golden-meter-5 revoked from tx height 1 on
			txBlock(bt-1500, f.tx("buyer", 0, func(tx *chain.Tx) {
				tx.RevokeDevice = &chain.RevokeDevice{Device: key("golden-meter-5").Public()}
			}))
		case 30: // a new meter, from tx height 2 on
			meters = append(meters, "golden-meter-new")
			txBlock(bt-1500, f.tx("hog", 0, func(tx *chain.Tx) {
				tx.RegisterDevice = &chain.RegisterDevice{Device: key("golden-meter-new").Public(), Label: "new"}
			}))
		}
		// The anchor catches up with the tx state every fourth block: a
		// few blocks after a tx block are anchored before it, and do not
		// know of its registration or revocation yet.
		if height%4 == 0 {
			anchor = f.txHeight
		}
		h := &chain.Header{ChainID: g.ChainID, Lane: chain.LaneData, Height: height, Time: bt, Anchor: chain.Anchor{Height: anchor, Hash: someHash}}

		var readings []*chain.Reading
		for range rng.IntN(14) {
			var name string
			if rng.IntN(20) == 0 {
				name = "golden-stranger"
			} else {
				name = meters[rng.IntN(len(meters))]
			}
			var d DeviceData
			if info, err := GetDevice(c, key(name).Public()); err == nil {
				d = info.Data
			}
			seq := d.LastSeq + 1
			switch r := rng.IntN(10); {
			case r < 2: // a jump: a gap opens
				seq += uint64(1 + rng.IntN(4))
			case r == 2 && len(d.Gaps) > 0: // late, into a gap
				gap := d.Gaps[rng.IntN(len(d.Gaps))]
				seq = gap.From + uint64(rng.IntN(int(gap.To-gap.From+1)))
			case r == 3 && d.LastSeq > 0: // a replay
				seq = d.LastSeq - uint64(rng.IntN(int(d.LastSeq)))
			}
			rt := bt - chain.Time(rng.IntN(1000))
			if rng.IntN(4) == 0 {
				rt = bt - chain.Time(rng.IntN(35_000)) // now and then outside the 30 s window
			}
			readings = append(readings, f.reading(name, seq, rt, int64(rng.IntN(100)), int64(rng.IntN(30000))))
		}

		chk, err := NewReadingChecker(c, anchor, bt)
		if err != nil {
			t.Fatal(err)
		}
		for _, rd := range readings {
			err := chk.Check(rd)
			if other := CheckReading(f.store, anchor, bt, rd); fmt.Sprint(other) != fmt.Sprint(err) {
				t.Fatalf("block %d: the cache's checker says %v, CheckReading over the store %v", height, err, other)
			}
			putErr(err)
		}
		build := func(r Reader) ([]Change, chain.Hash, []*chain.Reading, []error) {
			b, err := NewDataBuilder(r, h)
			if err != nil {
				t.Fatalf("block %d: %v", height, err)
			}
			var errs []error
			for _, rd := range readings {
				errs = append(errs, b.Add(rd))
			}
			changes, root, err := b.Finish()
			if err != nil {
				t.Fatalf("block %d: %v", height, err)
			}
			return changes, root, b.Readings(), errs
		}
		changes, root, kept, errs := build(c)
		storeChanges, storeRoot, _, storeErrs := build(f.store)
		if root != storeRoot || fmt.Sprint(errs) != fmt.Sprint(storeErrs) || !slices.EqualFunc(changes, storeChanges, sameChange) {
			t.Fatalf("block %d: over the cache root %s, errors %v; over the store %s, %v", height, root, errs, storeRoot, storeErrs)
		}
		for _, err := range errs {
			putErr(err)
		}
		for _, ch := range changes {
			put(ch.Key)
			put(ch.Value)
			put([]byte{boolByte(ch.Delete)})
		}
		put(root[:])

		blk := &chain.Block{Header: *h, Readings: kept}
		blk.Header.StateRoot = root
		if verified, err := VerifyDataBlock(f.store, blk); err != nil || !slices.EqualFunc(verified, changes, sameChange) {
			t.Fatalf("block %d: verified over the store: %v", height, err)
		}
		f.store.Apply(changes)
		c.Apply(changes)
		if walked, err := DataRoot(f.store); err != nil || walked != root {
			t.Fatalf("block %d: root %s, walked after commit %s (%v)", height, root, walked, err)
		}
		if err := f.src.Add(height, bt, kept...); err != nil {
			t.Fatal(err)
		}
	}
	if got := hex.EncodeToString(digest.Sum(nil)); got != goldenDataLane {
		t.Fatalf("the data lane's results changed: digest %s, want %s", got, goldenDataLane)
	}
}

func sameChange(a, b Change) bool {
	return string(a.Key) == string(b.Key) && string(a.Value) == string(b.Value) && a.Delete == b.Delete
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
