package store

import (
	"encoding/binary"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// migrations upgrade a store written by an older waterchain in place, one
// schema version at a time: migrations[v] takes a store of schema v to
// v+1. Each writes the new schema version in its last batch, so a
// migration cut short by a crash runs again from the start at the next
// Open (each is idempotent).
var migrations = map[uint64]func(kv KV) error{
	1: migrateReadingHashIndex,
	2: migrateTxKindIndex,
}

// migrateBatchWrites bounds the writes of one migration batch, well under
// what a badger transaction takes.
const migrateBatchWrites = 10_000

// migrateReadingHashIndex builds the reading hash index (d) of schema 2
// from the stored data blocks: one pass over the data lane's entries, the
// cost of reading the chain once, paid at the first start of the new
// version only.
func migrateReadingHashIndex(kv KV) error {
	err := indexEntries(kv, chain.LaneData, 2, func(k, v []byte, height uint64, index uint32, set func(k, v []byte)) error {
		r, err := decodeReadingEntry(k, v)
		if err != nil {
			return err
		}
		set(hashKey(prefixReadHash, r.Hash()), appendLocation(nil, height, index))
		return nil
	})
	if err != nil {
		return fmt.Errorf("building the reading hash index: %w", err)
	}
	return nil
}

// migrateTxKindIndex builds the tx kind index (k) of schema 3 from the
// stored tx blocks: one pass over the tx lane's entries, paid at the first
// start of the new version only.
func migrateTxKindIndex(kv KV) error {
	err := indexEntries(kv, chain.LaneTx, 3, func(k, v []byte, height uint64, index uint32, set func(k, v []byte)) error {
		tx, err := decodeTxEntry(k, v)
		if err != nil {
			return err
		}
		if key, ok := txKindKey(tx, height, index); ok { // as Commit: no valid block holds one without
			set(key, []byte{})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("building the tx kind index: %w", err)
	}
	return nil
}

// indexEntries runs fn over every stored entry of lane in key order, fn
// setting the index entries it derives, written in batches of
// migrateBatchWrites; the last batch records schema.
func indexEntries(kv KV, lane chain.Lane, schema uint64, fn func(k, v []byte, height uint64, index uint32, set func(k, v []byte)) error) error {
	b := kv.NewBatch()
	defer func() { b.Discard() }()
	writes := 0
	var flushErr error
	set := func(k, v []byte) {
		b.Set(k, v)
		if writes++; writes == migrateBatchWrites && flushErr == nil {
			flushErr = b.Write()
			b, writes = kv.NewBatch(), 0
		}
	}
	prefix := []byte{prefixEntry, byte(lane)}
	err := kv.Iterate(prefix, IterOptions{}, func(k, v []byte) error {
		if len(k) != len(prefix)+heightLen+indexLen {
			return corrupt(k, "entry key of %d bytes", len(k))
		}
		height := binary.BigEndian.Uint64(k[len(prefix):])
		index := binary.BigEndian.Uint32(k[len(prefix)+heightLen:])
		if err := fn(k, v, height, index, set); err != nil {
			return err
		}
		return flushErr
	})
	if err != nil {
		return err
	}
	b.Set(metaKey(metaSchema), binary.BigEndian.AppendUint64(nil, schema))
	return b.Write()
}

// migrate runs the migrations from schema from to schemaVersion.
func (s *Store) migrate(from uint64) error {
	for v := from; v < schemaVersion; v++ {
		m, ok := migrations[v]
		if !ok {
			return fmt.Errorf("%w: the store has schema %d, and this version cannot upgrade it (it reads schema %d)", ErrSchema, from, schemaVersion)
		}
		if err := m(s.kv); err != nil {
			return fmt.Errorf("upgrading the store from schema %d to %d: %w", v, v+1, err)
		}
	}
	return nil
}
