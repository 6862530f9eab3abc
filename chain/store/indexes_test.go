package store_test

import (
	"errors"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// TestIndexSumsMatchCommittedBlocks: the sum of BlockIndexSum over the
// committed blocks equals the store's IndexSum, every block passes
// CheckBlockIndexes, and the counts are one per block, reading and tx; a
// stray index entry changes the sum and the count.
func TestIndexSumsMatchCommittedBlocks(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	c := newTestChain(t)
	dev, acct := key(t, "meter"), key(t, "industry")
	var blocks []*chain.Block
	seq := uint64(0)
	for h := 0; h < 4; h++ {
		var rs []*chain.Reading
		for i := 0; i < 3; i++ {
			seq++
			rs = append(rs, reading(dev, seq, chain.Time(1_000_000+seq)))
		}
		blocks = append(blocks, c.commit(s, chain.LaneData, rs, nil))
		blocks = append(blocks, c.commit(s, chain.LaneTx, nil, []*chain.Tx{transfer(t, acct, uint64(h+1))}))
	}
	var want store.IndexSum
	for _, b := range blocks {
		if err := s.CheckBlockIndexes(b); err != nil {
			t.Fatalf("%s/%d: %v", b.Header.Lane, b.Header.Height, err)
		}
		want.Add(store.BlockIndexSum(b))
	}
	got, err := s.IndexSum()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("IndexSum %+v, the blocks' %+v", got, want)
	}
	counts, err := s.CountIndexes()
	if err != nil {
		t.Fatal(err)
	}
	if counts != (store.IndexCounts{Blocks: 8, ReadingSeqs: 12, ReadingHashes: 12, Txs: 4, TxKinds: 4}) {
		t.Fatalf("counts %+v", counts)
	}

	// A stray entry in the tx index.
	b := kv.NewBatch()
	b.Set(append([]byte{'x'}, make([]byte, 32)...), make([]byte, 12))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.IndexSum(); got == want {
		t.Fatal("a stray index entry left the sum unchanged")
	}
	if counts, _ := s.CountIndexes(); counts.Txs != 5 {
		t.Fatalf("tx index count %d after a stray entry, want 5", counts.Txs)
	}
}

// TestReadingByHash: every committed reading is found by its hash with its
// location; an unknown hash is ErrNotFound; an index entry of another
// reading under the same hash prefix is passed over, one naming nothing is
// ErrCorrupt.
func TestReadingByHash(t *testing.T) {
	kv := store.NewMemory()
	s := openStore(t, kv)
	c := newTestChain(t)
	dev := key(t, "meter")
	var rs []*chain.Reading
	for seq := uint64(1); seq <= 3; seq++ {
		rs = append(rs, reading(dev, seq, chain.Time(1_000_000+seq)))
	}
	c.commit(s, chain.LaneData, rs[:2], nil)
	c.commit(s, chain.LaneData, rs[2:], nil)
	for i, want := range rs {
		got, loc, err := s.ReadingByHash(want.Hash())
		if err != nil {
			t.Fatalf("reading %d: %v", want.Seq, err)
		}
		if got.Hash() != want.Hash() || loc.Lane != chain.LaneData || loc.Height != uint64(1+i/2) || loc.Index != uint32(i%2) {
			t.Fatalf("reading %d: got seq %d at %+v", want.Seq, got.Seq, loc)
		}
	}
	if _, _, err := s.ReadingByHash(chain.Hash{1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: err %v, want ErrNotFound", err)
	}
	// An entry under the first reading's hash prefix naming the second
	// reading (as a reading whose hash begins the same would) is passed over.
	h := rs[0].Hash()
	hashKey := func(height uint64, index uint32) []byte {
		return append(append([]byte{'d'}, h[:8]...), location(height, index)...)
	}
	put(t, kv, hashKey(1, 1), []byte{})
	if got, loc, err := s.ReadingByHash(h); err != nil || got.Hash() != h || loc.Height != 1 || loc.Index != 0 {
		t.Fatalf("with a shared prefix: %v at %+v, %v", got, loc, err)
	}
	// Without its own entry, the reading is not found.
	put(t, kv, hashKey(1, 0), nil)
	if _, _, err := s.ReadingByHash(h); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("without its entry: err %v, want ErrNotFound", err)
	}
	// An entry naming no stored reading is corruption.
	put(t, kv, hashKey(9, 0), []byte{})
	if _, _, err := s.ReadingByHash(h); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("entry naming nothing: err %v, want ErrCorrupt", err)
	}
}
