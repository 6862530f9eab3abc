package report_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

// newChain makes a chain over a fresh badger store in a temp dir; the
// store is closed at the end of the test.
func newChain(t testing.TB, opts audittest.Options) (*audittest.Chain, *store.BadgerKV) {
	t.Helper()
	kv, err := store.OpenBadger(t.TempDir(), store.BadgerOptions{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MemTableSize: store.MinMemTableSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	st, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := audittest.New(st, audittest.Genesis(opts))
	if err != nil {
		t.Fatal(err)
	}
	return c, kv
}
