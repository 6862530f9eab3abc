/*
 * Added by the Waterchain authors, 2026 (WATERCHAIN.md).
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/dgraph-io/badger/v4/y"
)

// TestTxnCommitWritesInKeyOrder commits one transaction whose keys were
// set in random order and reads the memtable's log back: its entries must
// be in key order and end with the transaction's end marker (the log's
// reader gives a transaction's entries only then), and every key must
// read back.
func TestTxnCommitWritesInKeyOrder(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil).WithSyncWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()

	const n = 2000
	txn := db.NewTransaction(true)
	for _, i := range rand.Perm(n) {
		var k [9]byte
		k[0] = 'k'
		binary.BigEndian.PutUint64(k[1:], uint64(i)*0x9e3779b97f4a7c15) // keys far from their index order
		if err := txn.Set(k[:], []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}

	var keys [][]byte
	var metas []byte
	db.lock.RLock()
	wal := db.mt.wal
	db.lock.RUnlock()
	if _, err := wal.iterate(true, 0, func(e Entry, _ valuePointer) error {
		keys = append(keys, y.Copy(y.ParseKey(e.Key)))
		metas = append(metas, e.meta)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// iterate hands a transaction's entries over, in the log's order, only
	// once it has read the transaction's end marker.
	if len(keys) != n {
		t.Fatalf("the log gives %d entries of whole transactions, want %d", len(keys), n)
	}
	for i := 1; i < n; i++ {
		if bytes.Compare(keys[i-1], keys[i]) >= 0 {
			t.Fatalf("entry %d %x after %x: the log is not in key order", i, keys[i], keys[i-1])
		}
	}
	for i := range n {
		if metas[i]&bitTxn == 0 {
			t.Fatalf("entry %d lacks the transaction bit", i)
		}
	}

	if err := db.View(func(txn *Txn) error {
		for _, k := range keys {
			if _, err := txn.Get(k); err != nil {
				t.Errorf("Get(%x): %v", k, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
