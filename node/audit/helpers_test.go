package audit_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openBadger opens (creating) a badger store in dir, small enough for
// tests.
func openBadger(t testing.TB, dir string, readOnly bool) (*store.BadgerKV, *store.Store) {
	t.Helper()
	kv, err := store.OpenBadger(dir, store.BadgerOptions{Logger: quiet, MemTableSize: store.MinMemTableSize, ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(kv)
	if err != nil {
		kv.Close()
		t.Fatal(err)
	}
	return kv, st
}

// newChain makes a chain over a fresh badger store in a temp dir; the
// store is closed at the end of the test.
func newChain(t testing.TB, opts audittest.Options) (*audittest.Chain, *store.BadgerKV) {
	t.Helper()
	kv, st := openBadger(t, t.TempDir(), false)
	t.Cleanup(func() { kv.Close() })
	c, err := audittest.New(st, audittest.Genesis(opts))
	if err != nil {
		t.Fatal(err)
	}
	return c, kv
}

// scenarioChain is a chain of n data blocks (one reading per meter each)
// and a tx block every 3 of them, across several settled periods.
func scenarioChain(t testing.TB, n int) (*audittest.Chain, *store.BadgerKV, *genesis.Genesis) {
	t.Helper()
	c, kv := newChain(t, audittest.Options{Industries: 3, DevicesPerIndustry: 2})
	if err := c.Scenario(n, 3); err != nil {
		t.Fatal(err)
	}
	return c, kv, c.Genesis
}

// memScenario is c.Scenario(data, txEvery) over a fresh in-memory store,
// which tests may damage through kv.
func memScenario(t testing.TB, opts audittest.Options, data, txEvery int) (*audittest.Chain, store.KV, *store.Store) {
	t.Helper()
	kv := store.NewMemory()
	st, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := audittest.New(st, audittest.Genesis(opts))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Scenario(data, txEvery); err != nil {
		t.Fatal(err)
	}
	return c, kv, st
}
