package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/waterchain/waterchain/chain/store"
)

func TestBadgerLocked(t *testing.T) {
	dir := t.TempDir()
	openBadgerWith(t, dir, store.BadgerOptions{MemTableSize: store.MinMemTableSize})
	kv, err := store.OpenBadger(dir, store.BadgerOptions{MemTableSize: store.MinMemTableSize, Logger: testLogger(t)})
	if err == nil {
		kv.Close()
		t.Fatal("opened a directory that is in use")
	}
	wantErr(t, err, store.ErrLocked)
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory", err)
	}
}

func TestBadgerDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	o := store.BadgerOptions{MemTableSize: store.MinMemTableSize}
	kv := openBadgerWith(t, dir, o)
	b := kv.NewBatch()
	b.Set([]byte("k"), []byte("v"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	kv = openBadgerWith(t, dir, o)
	if v, err := kv.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("after reopening: %q, %v", v, err)
	}
}

func TestBadgerOpenErrors(t *testing.T) {
	t.Run("directory is a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := store.OpenBadger(path, store.BadgerOptions{Logger: testLogger(t)})
		wantErr(t, err, store.ErrOpen)
	})
	t.Run("damaged manifest", func(t *testing.T) {
		dir := t.TempDir()
		o := store.BadgerOptions{MemTableSize: store.MinMemTableSize, Logger: testLogger(t)}
		kv := openBadgerWith(t, dir, o)
		b := kv.NewBatch()
		b.Set([]byte("k"), []byte("v"))
		if err := b.Write(); err != nil {
			t.Fatal(err)
		}
		if err := kv.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), bytes.Repeat([]byte{0xa5}, 64), 0o600); err != nil {
			t.Fatal(err)
		}
		kv2, err := store.OpenBadger(dir, o)
		if err == nil {
			kv2.Close()
			t.Fatal("opened a store with a damaged manifest")
		}
		wantErr(t, err, store.ErrOpen)
		if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "resync") {
			t.Errorf("error %q does not name the directory and what to do", err)
		}
	})
	t.Run("options", func(t *testing.T) {
		_, err := store.OpenBadger(t.TempDir(), store.BadgerOptions{MemTableSize: 1 << 20})
		if err == nil || !strings.Contains(err.Error(), "mem_table_size") {
			t.Fatalf("error %v, want one naming mem_table_size", err)
		}
	})
}

// TestBadgerQuietLogger checks that badger's routine messages stay below
// Info: opening and closing a store logs nothing at the default level.
func TestBadgerQuietLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir := t.TempDir()
	o := store.BadgerOptions{MemTableSize: store.MinMemTableSize, Logger: log}
	for i := 0; i < 2; i++ {
		kv, err := store.OpenBadger(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		b := kv.NewBatch()
		b.Set([]byte("k"), []byte("v"))
		if err := b.Write(); err != nil {
			t.Fatal(err)
		}
		if err := kv.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() > 0 {
		t.Fatalf("badger logged at Info or above:\n%s", buf.String())
	}
	// At Debug, badger's messages do come through, tagged.
	buf.Reset()
	log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	kv, err := store.OpenBadger(dir, store.BadgerOptions{MemTableSize: store.MinMemTableSize, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "component=badger") {
		t.Fatalf("no badger message at Debug:\n%s", buf.String())
	}
}

// TestBadgerReadsSnappyTables opens a directory whose tables an older
// version wrote with Snappy in 4 KiB blocks: every key reads back, and a
// compaction into the store's format keeps them.
func TestBadgerReadsSnappyTables(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithCompression(options.Snappy).WithMemTableSize(store.MinMemTableSize))
	if err != nil {
		t.Fatal(err)
	}
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 100) }
	const n = 5000
	wb := db.NewWriteBatch()
	for i := range n {
		if err := wb.Set([]byte(fmt.Sprintf("k%05d", i)), value(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Flatten(1); err != nil { // tables on disk, not only the log
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		kv := openBadgerWith(t, dir, store.BadgerOptions{MemTableSize: store.MinMemTableSize})
		defer kv.Close()
		got := 0
		if err := kv.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
			if want := value(got); !bytes.Equal(v, want) || string(k) != fmt.Sprintf("k%05d", got) {
				return fmt.Errorf("key %d: %q = %x", got, k, v)
			}
			got++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Fatalf("read %d keys, wrote %d", got, n)
		}
	}
	check()
	db, err = badger.Open(store.WithTableFormat(badger.DefaultOptions(dir)).WithLogger(nil).WithMemTableSize(store.MinMemTableSize))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check()
}
