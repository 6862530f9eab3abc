package store_test

import (
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
	if counts != (store.IndexCounts{Blocks: 8, ReadingSeqs: 12, ReadingTimes: 12, Txs: 4}) {
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
