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

func openBadger(t *testing.T) store.KV {
	return openBadgerIn(t, t.TempDir())
}

func openBadgerIn(t testing.TB, dir string) *store.BadgerKV {
	t.Helper()
	kv, err := store.OpenBadger(dir, store.BadgerOptions{Logger: testLogger(t)})
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
