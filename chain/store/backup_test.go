package store_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// TestBackupRestoreWhileCommitting backs up a store while blocks keep
// being committed to it, restores the backup into a fresh directory, and
// finds there every block committed before the backup started, each as it
// was, and heads that point at whole blocks.
func TestBackupRestoreWhileCommitting(t *testing.T) {
	o := store.BadgerOptions{MemTableSize: store.MinMemTableSize, Logger: testLogger(t)}
	kv := openBadgerWith(t, t.TempDir(), o)
	s := openStore(t, kv)
	c := newTestChain(t)
	dev := key(t, "meter")
	var before []*chain.Block
	for i := range 20 {
		before = append(before, c.commit(s, chain.LaneData, []*chain.Reading{reading(dev, uint64(i+1), c.now+1)}, nil))
	}
	before = append(before, c.commit(s, chain.LaneTx, nil, nil, set("s/k", "v")))

	// Keep committing while the backup runs: its snapshot must stay whole.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 20; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := c.next(chain.LaneData, []*chain.Reading{reading(dev, uint64(i+1), c.now+1)}, nil)
			if err := s.Commit(b, nil); err != nil {
				t.Errorf("commit during backup: %v", err)
				return
			}
			c.advance(b)
		}
	}()
	var buf bytes.Buffer
	_, err := kv.Backup(&buf)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if err := store.RestoreBadger(dir, bytes.NewReader(buf.Bytes()), o); err != nil {
		t.Fatal(err)
	}
	restored := openBadgerWith(t, dir, o)
	rs := openStore(t, restored)
	for _, want := range before {
		got, err := rs.Block(want.Header.Lane, want.Header.Height)
		if err != nil {
			t.Fatalf("block %s/%d missing after restore: %v", want.Header.Lane, want.Header.Height, err)
		}
		sameBlock(t, got, want)
	}
	// Whatever height the snapshot caught, its head is a whole block.
	head, ok := rs.Head(chain.LaneData)
	if !ok || head.Height < 20 {
		t.Fatalf("restored data head %d, want at least 20", head.Height)
	}
	if _, err := rs.Block(chain.LaneData, head.Height); err != nil {
		t.Fatalf("restored head block %d: %v", head.Height, err)
	}
	if v, err := rs.State([]byte("s/k")); err != nil || string(v) != "v" {
		t.Fatalf("state after restore: %q, %v", v, err)
	}
}

func TestRestoreRefusesBadTargetsAndInput(t *testing.T) {
	o := store.BadgerOptions{MemTableSize: store.MinMemTableSize, Logger: testLogger(t)}
	kv := openBadgerWith(t, t.TempDir(), o)
	b := kv.NewBatch()
	for i := range 1000 {
		b.Set([]byte{'k', byte(i >> 8), byte(i)}, bytes.Repeat([]byte{byte(i)}, 100))
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := kv.Backup(&buf); err != nil {
		t.Fatal(err)
	}

	t.Run("non-empty directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		wantErr(t, store.RestoreBadger(dir, bytes.NewReader(buf.Bytes()), o), store.ErrRestoreTarget)
	})
	t.Run("truncated stream", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		if err := store.RestoreBadger(dir, bytes.NewReader(buf.Bytes()[:buf.Len()/2]), o); err == nil {
			t.Fatal("a truncated backup was restored without error")
		}
	})
	t.Run("not a backup", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		if err := store.RestoreBadger(dir, bytes.NewReader([]byte("config = true\n")), o); err == nil {
			t.Fatal("a text file was restored as a backup")
		}
	})
}
