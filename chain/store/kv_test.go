package store_test

import (
	"errors"
	"testing"

	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/store/kvtest"
)

func openMemory(t *testing.T) store.KV {
	kv := store.NewMemory()
	t.Cleanup(func() { closeKV(t, kv) })
	return kv
}

// openBadger opens a badger KV with a small memtable, which opens much
// faster; the tests that need the production sizes use openBadgerIn.
func openBadger(t *testing.T) store.KV {
	return openBadgerWith(t, t.TempDir(), store.BadgerOptions{MemTableSize: store.MinMemTableSize})
}

// openBadgerIn opens a badger KV in dir with the production options.
func openBadgerIn(t testing.TB, dir string) *store.BadgerKV {
	return openBadgerWith(t, dir, store.BadgerOptions{})
}

func openBadgerWith(t testing.TB, dir string, o store.BadgerOptions) *store.BadgerKV {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	kv, err := store.OpenBadger(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeKV(t, kv) })
	return kv
}

func closeKV(t testing.TB, kv store.KV) {
	if err := kv.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("Close: %v", err)
	}
}

func TestMemoryKV(t *testing.T) { kvtest.Run(t, openMemory) }

func TestBadgerKV(t *testing.T) { kvtest.Run(t, openBadger) }
