package store_test

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// mixedBlocks builds n blocks alternating between the lanes, each with
// state changes (one key rewritten by every block, one removed), ready to
// commit in order.
func mixedBlocks(t *testing.T, c *testChain, n int) []store.BlockCommit {
	t.Helper()
	dev := key(t, "device")
	var out []store.BlockCommit
	for i := 0; i < n; i++ {
		lane := chain.Lanes[i%2]
		var rs []*chain.Reading
		if lane == chain.LaneData {
			rs = []*chain.Reading{reading(dev, uint64(i+1), baseTime+chain.Time(i+1))}
		}
		b := c.next(lane, rs, nil)
		c.advance(b)
		changes := []store.Change{set("d/last", b.Hash().String()), set(string(rune('a'+i)), "x")}
		if i > 0 {
			changes = append(changes, remove(string(rune('a'+i-1))))
		}
		out = append(out, store.BlockCommit{Block: b, Changes: changes})
	}
	return out
}

// TestCommitBlocksSameAsOneByOne: many blocks of both lanes in one write
// store exactly what committing them one by one stores.
func TestCommitBlocksSameAsOneByOne(t *testing.T) {
	for _, o := range kvOpeners {
		t.Run(o.name, func(t *testing.T) {
			blocks := mixedBlocks(t, newTestChain(t), 9)
			one, many := o.open(t), o.open(t)
			s1, s2 := openStore(t, one), openStore(t, many)
			for _, bc := range blocks {
				if err := s1.Commit(bc.Block, bc.Changes); err != nil {
					t.Fatal(err)
				}
			}
			if err := s2.CommitBlocks(blocks); err != nil {
				t.Fatal(err)
			}
			if dump(t, one) != dump(t, many) {
				t.Fatal("one write of 9 blocks stored other bytes than 9 commits")
			}
			for _, lane := range chain.Lanes {
				h1, _ := s1.Head(lane)
				h2, _ := s2.Head(lane)
				if h1.Hash() != h2.Hash() {
					t.Fatalf("%s head %d after one write, %d after commits", lane, h2.Height, h1.Height)
				}
			}
			// The reopened store resumes at the same heads.
			s3 := openStore(t, many)
			if h, _ := s3.Head(chain.LaneData); h.Height != 5 {
				t.Fatalf("reopened data head %d, want 5", h.Height)
			}
		})
	}
}

// TestCommitBlocksRefusesABreak: a block in the middle of a write that
// does not extend its lane (a gap, another parent) fails the whole write
// before anything is stored.
func TestCommitBlocksRefusesABreak(t *testing.T) {
	cases := map[string]func(bs []store.BlockCommit) []store.BlockCommit{
		"gap": func(bs []store.BlockCommit) []store.BlockCommit {
			return append(append([]store.BlockCommit{}, bs[:4]...), bs[6:]...)
		},
		"repeated": func(bs []store.BlockCommit) []store.BlockCommit {
			return append(append([]store.BlockCommit{}, bs[:4]...), bs[2:]...)
		},
		"missing certificate": func(bs []store.BlockCommit) []store.BlockCommit {
			out := append([]store.BlockCommit{}, bs...)
			b := *out[4].Block
			b.Cert = nil
			out[4].Block = &b
			return out
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			kv := openMemory(t)
			s := openStore(t, kv)
			before := dump(t, kv)
			err := s.CommitBlocks(breakIt(mixedBlocks(t, newTestChain(t), 8)))
			if err == nil {
				t.Fatal("a broken list was committed")
			}
			if dump(t, kv) != before {
				t.Fatalf("a refused write (%v) changed the store", err)
			}
			for _, lane := range chain.Lanes {
				if _, ok := s.Head(lane); ok {
					t.Fatalf("a refused write made a %s head", lane)
				}
			}
		})
	}
}

// TestCommitBlocksSplitsWhatDoesNotFit: blocks that do not fit one badger
// batch together are written in parts, in order; a single block too big
// for any batch fails with the blocks before it stored, whole.
func TestCommitBlocksSplitsWhatDoesNotFit(t *testing.T) {
	kv := openBadgerWith(t, t.TempDir(), store.BadgerOptions{MemTableSize: store.MinMemTableSize})
	s := openStore(t, kv)
	c := newTestChain(t)
	// 8 MiB memtable: batches up to 1.2 MB; 1,500 readings are ~0.55 MB.
	readings := signedReadings(t, 10, 450, false)
	var blocks []store.BlockCommit
	for i := 0; i < 3; i++ {
		b := c.next(chain.LaneData, readings[i*1500:(i+1)*1500], nil)
		c.advance(b)
		blocks = append(blocks, store.BlockCommit{Block: b})
	}
	if err := s.CommitBlocks(blocks); err != nil {
		t.Fatalf("3 blocks of 0.55 MB: %v", err)
	}
	if h, _ := s.Head(chain.LaneData); h.Height != 3 {
		t.Fatalf("head %d, want 3", h.Height)
	}
	// The halves were classified afresh: every reading is in order.
	if counts, err := s.CountIndexes(); err != nil || counts.LateReadings != 0 || counts.ReadingSeqs != 4500 {
		t.Fatalf("counts %+v, %v; want 4,500 readings in order", counts, err)
	}
	// A block of 6,000 readings (2.2 MB) fits no batch: the one before it is
	// stored, it and the one after it are not.
	more := signedReadings(t, 10, 1100, false)[4500:]
	small := c.next(chain.LaneData, more[:10], nil)
	c.advance(small)
	huge := c.next(chain.LaneData, more[10:6010], nil)
	c.advance(huge)
	after := c.next(chain.LaneData, more[6010:6020], nil)
	err := s.CommitBlocks([]store.BlockCommit{{Block: small}, {Block: huge}, {Block: after}})
	wantErr(t, err, store.ErrBatchTooBig)
	if h, _ := s.Head(chain.LaneData); h.Hash() != small.Hash() {
		t.Fatalf("head %d after the failed write, want 4 (the block before the one too big)", h.Height)
	}
	if _, err := s.Header(chain.LaneData, 5); err == nil {
		t.Fatal("part of the block too big is stored")
	}
	checkIndexSums(t, s, kv)
	if counts, err := s.CountIndexes(); err != nil || counts.LateReadings != 0 {
		t.Fatalf("counts %+v, %v; want no late reading", counts, err)
	}
}
