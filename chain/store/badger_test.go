package store_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
