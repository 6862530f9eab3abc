package store

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// The shared values table (v<id:4>) holds the values that block records
// name by id instead of repeating them (record.go): chain ids, validator
// keys, validator-set hashes. A network has a handful of each, so the
// table is small; it is loaded whole at Open and kept in memory. Ids are
// given in order from 0 and never change; a value is written in the same
// batch as the first record that names it.

// maxSharedID bounds the ids a record may name (the key holds 4 bytes).
const maxSharedID = 1<<32 - 1

func sharedKey(id uint64) []byte {
	return binary.BigEndian.AppendUint32([]byte{prefixShared}, uint32(id))
}

// sharedTable is the in-memory copy of the shared values table.
type sharedTable struct {
	mu   sync.RWMutex // guards ids and vals
	ids  map[string]uint64
	vals [][]byte
}

func newSharedTable() *sharedTable { return &sharedTable{ids: make(map[string]uint64)} }

// loadSharedTable reads the table stored in kv; its ids must run from 0
// without a gap.
func loadSharedTable(kv KV) (*sharedTable, error) {
	t := newSharedTable()
	err := kv.Iterate([]byte{prefixShared}, IterOptions{}, func(k, v []byte) error {
		if len(k) != 5 {
			return corrupt(k, "shared value key is %d bytes, want 5", len(k))
		}
		if id := uint64(binary.BigEndian.Uint32(k[1:])); id != uint64(len(t.vals)) {
			return corrupt(k, "shared value %d follows %d values", id, len(t.vals))
		}
		if _, dup := t.ids[string(v)]; dup {
			return corrupt(k, "holds a value stored under another id")
		}
		t.ids[string(v)] = uint64(len(t.vals))
		t.vals = append(t.vals, append([]byte{}, v...))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the shared values: %w", err)
	}
	return t, nil
}

// value returns the value of id.
func (t *sharedTable) value(id uint64) ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if id >= uint64(len(t.vals)) {
		return nil, corrupt(sharedKey(id), "missing: a record names it, and %d values are stored", len(t.vals))
	}
	return t.vals[id], nil
}

// interner gives ids to the values of one batch: a known value's id, or
// the next free id for a new one, whose key it adds to the batch. commit
// adds the new values to the table once the batch is written; a batch
// that fails leaves the table as it was.
type interner struct {
	t     *sharedTable
	batch Batch
	added map[string]uint64
	vals  [][]byte
}

// newInterner starts the interning of a batch. Its caller serializes the
// batches that write to the table (Store.writeMu, or a migration's single
// pass).
func (t *sharedTable) newInterner(batch Batch) *interner {
	return &interner{t: t, batch: batch}
}

// intern returns the id of v. It keeps no reference to v, so that a
// caller's string(key[:]) of a 32-byte key is not allocated.
func (in *interner) intern(v string) uint64 {
	in.t.mu.RLock()
	id, ok := in.t.ids[v]
	n := uint64(len(in.t.vals))
	in.t.mu.RUnlock()
	if ok {
		return id
	}
	if id, ok := in.added[v]; ok {
		return id
	}
	if in.added == nil {
		in.added = make(map[string]uint64)
	}
	id = n + uint64(len(in.vals))
	b := []byte(v)
	in.added[string(b)] = id
	in.vals = append(in.vals, b)
	in.batch.Set(sharedKey(id), b)
	return id
}

// commit adds the values of a written batch to the table.
func (in *interner) commit() {
	in.t.mu.Lock()
	defer in.t.mu.Unlock()
	for _, v := range in.vals {
		in.t.ids[string(v)] = uint64(len(in.t.vals))
		in.t.vals = append(in.t.vals, v)
	}
	in.vals, in.added = nil, nil
}
