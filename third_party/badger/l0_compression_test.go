/*
 * Added by the Waterchain authors, 2026 (WATERCHAIN.md).
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4/options"
)

// TestL0Compression writes enough to flush memtables with
// WithL0Compression and ZSTD: the flushed level-0 tables must have the
// level-0 compression, every key must read back before and after a reopen
// (the manifest records each table's compression), and the tables the
// compaction of level 0 writes must be compressed with ZSTD.
func TestL0Compression(t *testing.T) {
	for name, l0 := range map[string]options.CompressionType{"none": options.None, "snappy": options.Snappy} {
		t.Run(name, func(t *testing.T) { testL0Compression(t, l0) })
	}
}

func testL0Compression(t *testing.T, l0c options.CompressionType) {
	dir := t.TempDir()
	opts := DefaultOptions(dir).WithLogger(nil).
		WithCompression(options.ZSTD).WithZSTDCompressionLevel(1).
		WithMemTableSize(1 << 20).WithNumMemtables(1).WithBaseTableSize(1 << 20).WithValueThreshold(1 << 10).
		WithNumLevelZeroTables(100).WithNumLevelZeroTablesStall(200).
		WithL0Compression(l0c)
	db, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	key := func(i int) []byte { return []byte(fmt.Sprintf("key-%08d", i)) }
	val := func(i int) []byte { return []byte(fmt.Sprintf("a value that compresses well %08d %08d %08d", i, i, i)) }
	for i := 0; i < n; i += 500 {
		wb := db.NewWriteBatch()
		for j := i; j < i+500; j++ {
			if err := wb.Set(key(j), val(j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func(db *DB, when string) {
		t.Helper()
		err := db.View(func(txn *Txn) error {
			for i := 0; i < n; i++ {
				item, err := txn.Get(key(i))
				if err != nil {
					return fmt.Errorf("key %d: %w", i, err)
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				if string(v) != string(val(i)) {
					return fmt.Errorf("key %d: %q", i, v)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	compressionByLevel := func(db *DB) map[int][]options.CompressionType {
		out := make(map[int][]options.CompressionType)
		for _, l := range db.lc.levels {
			l.RLock()
			for _, tb := range l.tables {
				out[l.level] = append(out[l.level], tb.CompressionType())
			}
			l.RUnlock()
		}
		return out
	}
	readAll(db, "before the flushes are checked")
	l0 := compressionByLevel(db)[0]
	if len(l0) == 0 {
		t.Fatal("no level-0 table after writing several memtables")
	}
	for _, c := range l0 {
		if c != l0c {
			t.Fatalf("a flushed level-0 table compressed with %v; want %v", c, l0c)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Closing with CompactL0OnClose compacts level 0 into the level below.
	db, err = Open(opts.WithCompactL0OnClose(true))
	if err != nil {
		t.Fatal(err)
	}
	readAll(db, "after a reopen")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	below := 0
	for level, cs := range compressionByLevel(db) {
		for _, c := range cs {
			switch {
			case level == 0 && c != l0c:
				// Level 0 may hold a memtable flushed after the compaction.
				t.Errorf("a level-0 table compressed with %v; want %v", c, l0c)
			case level > 0 && c != options.ZSTD:
				t.Errorf("a compacted table at level %d compressed with %v; want ZSTD", level, c)
			case level > 0:
				below++
			}
		}
	}
	if below == 0 {
		t.Fatal("no table below level 0 after the compaction of level 0")
	}
	readAll(db, "after compaction")
}
