package store_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// stored is a committed reading with its height, for the reference
// answers of the device queries.
type stored struct {
	r      *chain.Reading
	height uint64
}

// commitHistory commits n readings of dev in data blocks of 1 to 12: in
// order mostly, with jumps in sequence numbers, and a late reading now and
// then that fills a jump with a time anywhere near the last (before or
// after it, or equal), as a late reading is in the data-lane rules. It
// returns what it committed.
// g carries the device's history from one call to the next.
func commitHistory(t testing.TB, s *store.Store, c *testChain, dev *chain.PrivateKey, n int, rng *rand.Rand, g *historyGen) []stored {
	t.Helper()
	if g.now == 0 {
		g.now = baseTime
	}
	var out []stored
	gaps, seq, now := &g.gaps, &g.seq, &g.now
	for len(out) < n {
		var rs []*chain.Reading
		for range 1 + rng.IntN(12) {
			switch {
			case len(*gaps) > 0 && rng.IntN(8) == 0:
				i := rng.IntN(len(*gaps))
				gap := (*gaps)[i]
				*gaps = slices.Delete(*gaps, i, i+1)
				rs = append(rs, reading(dev, gap, *now+chain.Time(rng.IntN(4001)-2000)))
			default:
				*seq++
				if rng.IntN(10) == 0 {
					for range 1 + rng.IntN(4) {
						*gaps = append(*gaps, *seq)
						*seq++
					}
				}
				*now += chain.Time(1 + rng.IntN(1000))
				rs = append(rs, reading(dev, *seq, *now))
			}
		}
		b := c.commit(s, chain.LaneData, rs, nil)
		for _, r := range rs {
			out = append(out, stored{r, b.Header.Height})
		}
	}
	return out
}

// historyGen is where commitHistory left a device's history.
type historyGen struct {
	seq  uint64
	gaps []uint64
	now  chain.Time
}

// checkDeviceQueries compares Reading, Readings, ReadingsUpTo and
// LatestReadings with answers computed from the committed readings, over
// ranges near the end of the history (where queries scan from the end) and
// deep in it (where they search).
func checkDeviceQueries(t *testing.T, s *store.Store, dev chain.PubKey, hist []stored, rng *rand.Rand) {
	t.Helper()
	lo, hi := hist[0].r.Time, hist[0].r.Time
	for _, h := range hist {
		lo, hi = min(lo, h.r.Time), max(hi, h.r.Time)
		got, _, err := s.Reading(dev, h.r.Seq)
		if err != nil || got.Hash() != h.r.Hash() {
			t.Fatalf("Reading(%d) = %v, %v", h.r.Seq, got, err)
		}
	}
	if _, _, err := s.Reading(dev, 1<<40); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Reading of an absent seq: %v, want ErrNotFound", err)
	}
	seqs := func(rs []*chain.Reading) []uint64 {
		out := make([]uint64, len(rs))
		for i, r := range rs {
			out[i] = r.Seq
		}
		return out
	}
	maxHeight := hist[len(hist)-1].height
	for i := range 300 {
		from := lo - 10 + chain.Time(rng.Int64N(int64(hi-lo+20)))
		switch i % 6 {
		case 0, 3: // near the end
			from = hi - chain.Time(rng.Int64N(int64(min(hi-lo, 20_000))+1))
		case 1: // at or past the end, up to far past it
			from = hi + chain.Time(rng.Int64N(3)) + chain.Time(rng.Int64N(2))*chain.Time(rng.Int64N(1<<50))
		}
		to := from + 1 + chain.Time(rng.Int64N(30_000))
		upTo := 1 + uint64(rng.Int64N(int64(maxHeight)+1))
		limit := rng.IntN(40)

		var wantTime, wantUpTo []*chain.Reading
		for _, h := range hist {
			if h.r.Time >= from && h.r.Time < to {
				wantTime = append(wantTime, h.r)
				if h.height <= upTo {
					wantUpTo = append(wantUpTo, h.r)
				}
			}
		}
		slices.SortFunc(wantTime, func(a, b *chain.Reading) int { return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Seq, b.Seq)) })
		slices.SortFunc(wantUpTo, func(a, b *chain.Reading) int { return cmp.Compare(a.Seq, b.Seq) })
		if limit > 0 && len(wantTime) > limit {
			wantTime = wantTime[:limit]
		}

		var got []*chain.Reading
		if err := s.Readings(dev, from, to, limit, func(r *chain.Reading, _ store.Location) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(got), seqs(wantTime)) {
			t.Fatalf("Readings(%d, %d, limit %d) = %v, want %v", from, to, limit, seqs(got), seqs(wantTime))
		}
		got = got[:0]
		if err := s.ReadingsUpTo(dev, from, to, upTo, func(r *chain.Reading) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(got), seqs(wantUpTo)) {
			t.Fatalf("ReadingsUpTo(%d, %d, height %d) = %v, want %v", from, to, upTo, seqs(got), seqs(wantUpTo))
		}
	}
	// Open-ended ranges.
	var got []*chain.Reading
	if err := s.Readings(dev, lo, 0, 0, func(r *chain.Reading, _ store.Location) error { got = append(got, r); return nil }); err != nil || len(got) != len(hist) {
		t.Fatalf("Readings(lo, 0) gave %d readings, %v; want %d", len(got), err, len(hist))
	}
	bySeq := make([]uint64, len(hist))
	for i, h := range hist {
		bySeq[i] = h.r.Seq
	}
	slices.Sort(bySeq)
	slices.Reverse(bySeq)
	for _, n := range []int{1, 3, 17, len(hist) + 5} {
		got = got[:0]
		if err := s.LatestReadings(dev, n, func(r *chain.Reading, _ store.Location) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
		want := bySeq[:min(n, len(bySeq))]
		if !slices.Equal(seqs(got), want) {
			t.Fatalf("LatestReadings(%d) = %v, want %v", n, seqs(got), want)
		}
	}
}

// TestDeviceQueriesMatchReference: over a long history with gaps and late
// readings, every device query answers what the committed readings say,
// the sums match, and a late reading is indexed in q and r.
func TestDeviceQueriesMatchReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   func(t *testing.T) store.KV
		n    int
	}{
		{"memory", func(*testing.T) store.KV { return store.NewMemory() }, 3000},
		{"badger", openBadger, 800},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := tc.kv(t)
			s := openStore(t, kv)
			rng := rand.New(rand.NewPCG(1, 2))
			dev, other := key(t, "meter"), key(t, "other meter")
			c := newTestChain(t)
			var g historyGen
			hist := commitHistory(t, s, c, dev, tc.n, rng, &g)
			commitHistory(t, s, c, other, 50, rng, &historyGen{}) // another device
			checkDeviceQueries(t, s, dev.Public(), hist, rng)
			counts, err := s.CountIndexes()
			if err != nil {
				t.Fatal(err)
			}
			if counts.LateReadings == 0 || counts.ReadingTimes != counts.LateReadings {
				t.Fatalf("counts %+v: want late readings, one time entry each", counts)
			}
			// A reopened store (no cached tips) classifies as the first did.
			s = openStore(t, kv)
			more := commitHistory(t, s, c, dev, 200, rng, &g)
			checkDeviceQueries(t, s, dev.Public(), append(hist, more...), rng)
			checkIndexSums(t, s, kv)
		})
	}
}

// checkIndexSums checks that the stored indexes agree with the committed
// blocks: CheckBlockIndexes and IndexSum.
func checkIndexSums(t *testing.T, s *store.Store, kv store.KV) {
	t.Helper()
	var want store.IndexSum
	for _, lane := range chain.Lanes {
		for h := uint64(1); h <= s.Height(lane); h++ {
			b, err := s.Block(lane, h)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CheckBlockIndexes(b); err != nil {
				t.Fatalf("%s/%d: %v", lane, h, err)
			}
			want.Add(store.BlockIndexSum(b))
		}
	}
	if got, err := s.IndexSum(); err != nil || got != want {
		t.Fatalf("IndexSum %+v, %v; the blocks' %+v", got, err, want)
	}
}

// TestDeviceIndexDamageIsFound: the index sum tells a damaged device index
// from the blocks' (an r entry missing or extra, n out of time order), and
// CheckBlockIndexes names the block of a missing or wrong entry.
func TestDeviceIndexDamageIsFound(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	sc := commitScenario(t, s) // A's seq 4 at data/2 is late: timed before seq 3
	checkIndexSums(t, s, kv)
	A := sc.devA.Public()
	late := laneHeightKeyOf('q', A, 4)
	if _, err := kv.Get(late); err != nil {
		t.Fatalf("late reading not in q: %v", err)
	}
	if _, err := kv.Get(seqKeyOf(A, 4)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("late reading in n: %v", err)
	}
	want, err := s.IndexSum()
	if err != nil {
		t.Fatal(err)
	}
	data2 := sc.blocks[2]
	for _, tc := range []struct {
		name   string
		damage func(b store.Batch)
		check  string // what CheckBlockIndexes(data/2) says, "" for nothing
	}{
		{"time entry of a late reading deleted", func(b store.Batch) { b.Delete(timeKeyOf(A, baseTime+240, 4)) }, "is missing"},
		{"stray time entry", func(b store.Batch) { b.Set(timeKeyOf(A, baseTime+260, 3), location(2, 0)) }, ""},
		{"late entry deleted", func(b store.Batch) { b.Delete(late) }, "is missing"},
		{"n entry with another time", func(b store.Batch) {
			b.Set(seqKeyOf(A, 3), append(timeBytes(baseTime+5000), location(2, 0)...))
		}, "timed"},
		{"late reading moved to n, out of time order", func(b store.Batch) {
			b.Delete(late)
			b.Delete(timeKeyOf(A, baseTime+240, 4))
			b.Set(seqKeyOf(A, 4), append(timeBytes(baseTime+240), location(2, 1)...))
		}, ""},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			saved := dump(t, kv)
			keys := snapshot(t, kv)
			b := kv.NewBatch()
			tc.damage(b)
			if err := b.Write(); err != nil {
				t.Fatal(err)
			}
			if got, err := s.IndexSum(); err != nil || got == want {
				t.Fatalf("IndexSum after damage: %v (unchanged: %v)", err, got == want)
			}
			err := s.CheckBlockIndexes(data2)
			if tc.check == "" && err != nil {
				t.Fatalf("CheckBlockIndexes: %v", err)
			}
			if tc.check != "" && (!errors.Is(err, store.ErrIndex) || !strings.Contains(err.Error(), tc.check)) {
				t.Fatalf("CheckBlockIndexes = %v, want ErrIndex saying %q", err, tc.check)
			}
			restore(t, kv, keys)
			if dump(t, kv) != saved {
				t.Fatal("restore failed")
			}
		})
	}
}

func timeBytes(t chain.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t)^(1<<63)) }

func laneHeightKeyOf(prefix byte, dev chain.PubKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{prefix}, dev[:]...), seq)
}

// snapshot copies every key and value of kv.
func snapshot(t *testing.T, kv store.KV) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		out[string(k)] = bytes.Clone(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// restore makes kv hold exactly keys.
func restore(t *testing.T, kv store.KV, keys map[string][]byte) {
	t.Helper()
	b := kv.NewBatch()
	if err := kv.Iterate(nil, store.IterOptions{}, func(k, _ []byte) error {
		if _, ok := keys[string(k)]; !ok {
			b.Delete(bytes.Clone(k))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for k, v := range keys {
		b.Set([]byte(k), v)
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
}

// toSchema5 rewrites the device index of a store in the layout of schema
// 5, independently of the package: n<device><seq> → height, index and
// r<device><time><seq> → height, index for every reading, no q, and
// d<hash:32> → height, index. keep
// names readings left in the layout of schema 6, as a migration cut short
// leaves them.
func toSchema5(t *testing.T, kv store.KV, s *store.Store, keep map[uint64]bool) {
	t.Helper()
	b := kv.NewBatch()
	for h := uint64(1); h <= s.Height(chain.LaneData); h++ {
		blk, err := s.Block(chain.LaneData, h)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range blk.Readings {
			if keep[r.Seq] {
				continue
			}
			b.Delete(laneHeightKeyOf('q', r.Device, r.Seq))
			b.Set(seqKeyOf(r.Device, r.Seq), location(h, uint32(i)))
			b.Set(timeKeyOf(r.Device, r.Time, r.Seq), location(h, uint32(i)))
			hash := r.Hash()
			b.Delete(append(append([]byte{'d'}, hash[:8]...), location(h, uint32(i))...))
			b.Set(append([]byte{'d'}, hash[:]...), location(h, uint32(i)))
		}
	}
	b.Set([]byte("mschema"), binary.BigEndian.AppendUint64(nil, 5))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenMigratesSchema5: a badger store of schema 5 (two device indexes)
// is rewritten at Open into exactly the store this version writes, late
// readings included, and answers the same queries; so is one whose
// migration was cut short.
func TestOpenMigratesSchema5(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep map[uint64]bool
	}{
		{"whole", nil},
		{"cut short", map[uint64]bool{1: true, 2: true, 3: true, 4: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := openBadger(t)
			s := openStore(t, kv)
			c := newTestChain(t)
			if err := s.InitGenesis(c.genesis, nil); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			dev := key(t, "meter")
			hist := commitHistory(t, s, c, dev, 300, rng, &historyGen{})
			want := dump(t, kv)
			toSchema5(t, kv, s, tc.keep)
			if got := dump(t, kv); got == want {
				t.Fatal("the store was not rewritten in schema 5")
			}
			s = openStore(t, kv)
			if got := dump(t, kv); got != want {
				t.Fatalf("the migrated store differs from the one this version writes:\ngot\n%s\nwant\n%s", got, want)
			}
			checkDeviceQueries(t, s, dev.Public(), hist, rng)
			checkIndexSums(t, s, kv)
		})
	}
}
