package store

import (
	"fmt"
)

// Node records are what a node derives from the chain and keeps beside it
// (the alert engine's checkpoint, the alerts of each data block): under
// the metadata table, names starting with nodeRecordPrefix, which the
// store itself never uses. They are not part of the chain: a node may
// rebuild them from it at any time.
const nodeRecordPrefix = "node/"

func nodeRecordKey(name string) []byte { return metaKey(nodeRecordPrefix + name) }

// NodeRecord is one node record write: Value under Name, or, with Delete,
// the removal of Name.
type NodeRecord struct {
	Name   string
	Value  []byte
	Delete bool
}

// PutNodeRecords writes node records in one atomic batch.
func (s *Store) PutNodeRecords(recs ...NodeRecord) error {
	batch := s.kv.NewBatch()
	defer batch.Discard()
	for i, r := range recs {
		if r.Name == "" {
			return fmt.Errorf("%w: node record %d has an empty name", ErrEmptyKey, i)
		}
		if r.Delete {
			batch.Delete(nodeRecordKey(r.Name))
			continue
		}
		v := r.Value
		if v == nil {
			v = []byte{}
		}
		batch.Set(nodeRecordKey(r.Name), v)
	}
	if err := batch.Write(); err != nil {
		return fmt.Errorf("writing %d node records: %w", len(recs), err)
	}
	return nil
}

// GetNodeRecord returns the node record name, or an error wrapping
// ErrNotFound. The caller owns the returned bytes.
func (s *Store) GetNodeRecord(name string) ([]byte, error) {
	return s.get(nodeRecordKey(name))
}

// IterateNodeRecords calls fn for the node records whose name starts with
// prefix, in ascending name order (descending with reverse), on a
// consistent snapshot, until fn returns an error (ErrStop ends it with
// nil). fn must not keep or modify value after it returns.
func (s *Store) IterateNodeRecords(prefix string, reverse bool, fn func(name string, value []byte) error) error {
	p := nodeRecordKey(prefix)
	skip := len(nodeRecordKey(""))
	return s.kv.Iterate(p, IterOptions{Reverse: reverse}, func(k, v []byte) error {
		return fn(string(k[skip:]), v)
	})
}

// IterateNodeRecordsBefore calls fn for the node records whose name starts
// with prefix and sorts below before, in descending name order, on a
// consistent snapshot, until fn returns an error (ErrStop ends it with
// nil): a page newest first from a cursor, whose cost does not depend on
// the records above it. fn must not keep or modify value after it returns.
func (s *Store) IterateNodeRecordsBefore(prefix, before string, fn func(name string, value []byte) error) error {
	p := nodeRecordKey(prefix)
	skip := len(nodeRecordKey(""))
	return s.kv.Iterate(p, IterOptions{End: nodeRecordKey(before), Reverse: true}, func(k, v []byte) error {
		return fn(string(k[skip:]), v)
	})
}
