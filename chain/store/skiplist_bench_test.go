package store_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4/skl"
	"github.com/dgraph-io/badger/v4/y"

	"github.com/waterchain/waterchain/chain/store"
)

// BenchmarkSkiplistInsertOrder measures what a write costs in badger's
// memtable skiplist, the largest part of a node's CPU at high load
// (docs/performance-log.md, "A burst after a quiet spell, a window that
// remembers the capacity, and badger's skiplist"): keys the size of a
// device's seq-index key put into a skiplist of a million entries in
// the store's default memtable arena, in random order (as upstream badger
// commits a transaction, ranging over a Go map) and sorted (as the fork in
// third_party/badger commits it). Each op is one Put.
//
//	go test ./chain/store -run XXX -bench SkiplistInsertOrder -benchtime 30000x
func BenchmarkSkiplistInsertOrder(b *testing.B) {
	for _, sorted := range []bool{false, true} {
		name := map[bool]string{false: "random", true: "sorted"}[sorted]
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			key := func() []byte {
				k := make([]byte, 41)
				for i := range k {
					k[i] = byte(rng.Uint32())
				}
				return y.KeyWithTs(k, 1)
			}
			s := skl.NewSkiplist(store.DefaultMemTableSize)
			defer s.DecrRef()
			v := y.ValueStruct{Value: make([]byte, 20)} // a timed location
			for range 1_000_000 {
				s.Put(key(), v)
			}
			batch := make([][]byte, b.N)
			for i := range batch {
				batch[i] = key()
			}
			if sorted {
				slices.SortFunc(batch, bytes.Compare)
			}
			b.ResetTimer()
			for i := range b.N {
				s.Put(batch[i], v)
			}
		})
	}
}
