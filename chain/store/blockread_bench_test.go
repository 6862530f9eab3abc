package store_test

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// BenchmarkBlockRead reads the empty blocks of a badger store of 2,000
// blocks per lane, one after the other, as the audit and block sync do.
func BenchmarkBlockRead(b *testing.B) {
	kv := openBadgerIn(b, b.TempDir())
	bulk := &bulkKV{KV: kv, pending: kv.NewBatch()}
	s := openStore(b, bulk)
	c := newTestChain(b)
	const n = 2000
	for range n {
		c.commit(s, chain.LaneData, nil, nil)
		c.commit(s, chain.LaneTx, nil, nil)
	}
	if err := bulk.flush(); err != nil {
		b.Fatal(err)
	}
	s = openStore(b, kv)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := uint64(i%n) + 1
		for _, lane := range chain.Lanes {
			if _, err := s.Block(lane, h); err != nil {
				b.Fatal(err)
			}
		}
	}
}
