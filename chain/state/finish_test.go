package state

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/waterchain/waterchain/chain"
)

// overlayFinish is DataBuilder.Finish the way it was first written: the
// block's records put into an overlay over the builder's Reader (with the
// generic encoder), the root from the overlay, the changes listed from
// it. It is called after Finish, whose meta record it writes again.
func overlayFinish(b *DataBuilder) ([]Change, chain.Hash, error) {
	o := newOverlay(b.r)
	for device, v := range b.devices.views {
		if v.dirty {
			putRecord(o, deviceDataKey(device), &v.dd)
		}
	}
	putRecord(o, []byte(keyDataMeta), &b.meta)
	root, err := Root(o, []byte(DataPrefix))
	return o.changes(), root, err
}

// TestPropertyFinishMatchesOverlay: whatever readings a block is given,
// over a Cache (root from its tree) or a MemStore (root walked), Finish
// gives the changes and root of overlayFinish, byte for byte; and again
// after more readings and a second Finish.
func TestPropertyFinishMatchesOverlay(t *testing.T) {
	meters := []string{"saver-meter", "hog-meter", "buyer-meter", "stranger"}
	rapid.Check(t, func(rt *rapid.T) {
		f := newFixture(t)
		genesis, err := GenesisChanges(f.g)
		if err != nil {
			rt.Fatal(err)
		}
		c := NewCache()
		c.Apply(genesis)
		t0 := at(time.Minute)
		blocks := uint64(rapid.IntRange(1, 4).Draw(rt, "blocks"))
		for height := uint64(1); height <= blocks; height++ {
			bt := t0 + chain.Time(height)*1000
			h := &chain.Header{ChainID: f.g.ChainID, Lane: chain.LaneData, Height: height, Time: bt, Anchor: chain.Anchor{Hash: someHash}}
			var readings []*chain.Reading
			for i := range rapid.IntRange(0, 12).Draw(rt, "readings") {
				name := rapid.SampledFrom(meters).Draw(rt, fmt.Sprint("meter", i))
				seq := rapid.Uint64Range(1, 12).Draw(rt, fmt.Sprint("seq", i))
				readings = append(readings, f.reading(name, seq, bt-chain.Time(rapid.IntRange(0, 3000).Draw(rt, fmt.Sprint("age", i))), 1, 1))
			}
			split := rapid.IntRange(0, len(readings)).Draw(rt, "split")
			var committed []Change
			for _, r := range []Reader{c, f.store} {
				b, err := NewDataBuilder(r, h)
				if err != nil {
					rt.Fatal(err)
				}
				for i, rd := range readings {
					if i == split { // Finish, then more readings and Finish again
						if _, _, err := b.Finish(); err != nil {
							rt.Fatal(err)
						}
					}
					_ = b.Add(rd)
				}
				changes, root, err := b.Finish()
				if err != nil {
					rt.Fatal(err)
				}
				want, wantRoot, err := overlayFinish(b)
				if err != nil {
					rt.Fatal(err)
				}
				if root != wantRoot || !slices.EqualFunc(changes, want, sameChange) {
					rt.Fatalf("over %T, block %d: root %s and %d changes, the overlay's %s and %d", r, height, root, len(changes), wantRoot, len(want))
				}
				committed = changes
			}
			c.Apply(committed)
			f.store.Apply(committed)
		}
	})
}
