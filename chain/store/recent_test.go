package store_test

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// readCounter counts the reads made on a KV.
type readCounter struct {
	store.KV
	reads int
}

func (k *readCounter) Get(key []byte) ([]byte, error) {
	k.reads++
	return k.KV.Get(key)
}

func (k *readCounter) Iterate(prefix []byte, opts store.IterOptions, fn func(key, value []byte) error) error {
	k.reads++
	return k.KV.Iterate(prefix, opts, fn)
}

// TestRecentHeadersFromMemory: the headers of the newest blocks the store
// wrote come from memory, without a read of the KV (badger would make it
// wait for a write in flight); older ones are read, the same headers. A
// reopened store reads them all.
func TestRecentHeadersFromMemory(t *testing.T) {
	kv := &readCounter{KV: openMemory(t)}
	s := openStore(t, kv)
	c := newTestChain(t)
	const blocks = 300
	want := map[uint64]chain.Header{}
	for i := 0; i < blocks; i++ {
		b := c.commit(s, chain.LaneTx, nil, nil)
		want[b.Header.Height] = b.Header
	}
	check := func(s *store.Store, h uint64, fromMemory bool) {
		t.Helper()
		before := kv.reads
		got, err := s.Header(chain.LaneTx, h)
		if err != nil {
			t.Fatalf("tx/%d: %v", h, err)
		}
		w := want[h]
		if got.Hash() != w.Hash() {
			t.Fatalf("tx/%d: header %s, want %s", h, got.Hash().Short(), w.Hash().Short())
		}
		if read := kv.reads > before; read == fromMemory {
			t.Fatalf("tx/%d: read from the KV: %v, want %v", h, read, !fromMemory)
		}
	}
	for h := uint64(blocks); h > blocks-256; h-- {
		check(s, h, true)
	}
	for h := uint64(1); h <= blocks-256; h += 11 {
		check(s, h, false)
	}
	if _, err := s.Header(chain.LaneTx, blocks+1); err == nil {
		t.Fatal("a header above the head")
	}
	reopened := openStore(t, kv)
	check(reopened, blocks, false)
}
