package audit_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

// TestMain fails the package if any test leaves a goroutine behind: Verify
// stops its planner and workers on every path, failures included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReadOnlyStore checks the store option the audit opens stores with:
// no directory is created, nothing is written, two audits may read at
// once, and a writer (a running node) locks them out.
func TestReadOnlyStore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	if _, err := store.OpenBadger(missing, store.BadgerOptions{Logger: quiet, ReadOnly: true}); !errors.Is(err, store.ErrOpen) {
		t.Fatalf("read-only open of a missing directory: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open created %s: %v", missing, err)
	}

	dir := t.TempDir()
	kv, st := openBadger(t, dir, false)
	c, err := audittest.New(st, audittest.Genesis(audittest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Scenario(3, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenBadger(dir, store.BadgerOptions{Logger: quiet, ReadOnly: true}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("read-only open while a writer has it: %v", err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}

	a, sa := openBadger(t, dir, true)
	defer a.Close()
	b, sb := openBadger(t, dir, true)
	defer b.Close()
	for _, s := range []*store.Store{sa, sb} {
		if _, err := audit.Verify(s, c.Genesis, audit.VerifyOptions{Workers: 1, BatchSize: 2}); err != nil {
			t.Fatal(err)
		}
	}
	batch := a.NewBatch()
	batch.Set([]byte("x"), []byte("y"))
	if err := batch.Write(); err == nil {
		t.Fatal("a read-only store took a write")
	}
}
