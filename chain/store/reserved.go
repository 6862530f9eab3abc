package store

import (
	"errors"
	"fmt"
)

// Reserved prefixes: first key bytes that Store never writes, each given to
// one package that keeps records of its own beside the chain in the same KV
// (off-chain data a node derives or receives, never part of a block). A
// package reaches its records only through Reserve, which hands out a view
// of the KV confined to its prefix, so no two writers can collide and none
// can read or overwrite a table of the store. A new user adds its prefix
// here and to reservedPrefixes; TestPrefixesDistinct checks that every
// table and reservation has a byte of its own.
const (
	// PrefixImages holds camera images and their index (package
	// node/images): i<kind><id>.
	PrefixImages byte = 'i'
)

// reservedPrefixes are the prefixes Reserve hands out, with their owners.
var reservedPrefixes = map[byte]string{
	PrefixImages: "node/images",
}

// storeTables are the prefixes of Store's own tables (keys.go).
var storeTables = []byte{
	prefixMeta, prefixHead, prefixHeader, prefixCert, prefixEntry,
	prefixBlockHash, prefixReadTime, prefixReadSeq, prefixReadLate, prefixReadHash, prefixTx, prefixTxKind, prefixState, prefixShared,
}

// ErrNotReserved is returned by Reserve for a prefix that is not declared
// in reservedPrefixes (a table of the store, or a byte nobody reserved).
var ErrNotReserved = errors.New("key prefix not reserved")

// SubKV is the part of a KV under one reserved prefix: its keys are the
// parent's keys with the prefix removed. It has the KV contract (kv.go)
// for Get, Iterate and NewBatch; it has no Close, since the parent KV
// stays its owner's.
type SubKV struct {
	parent KV
	prefix byte
}

// Reserve returns the view of kv under the reserved prefix p.
func Reserve(kv KV, p byte) (*SubKV, error) {
	if _, ok := reservedPrefixes[p]; !ok {
		return nil, fmt.Errorf("%w: %q (declare it in chain/store/reserved.go)", ErrNotReserved, p)
	}
	return &SubKV{parent: kv, prefix: p}, nil
}

func (s *SubKV) key(k []byte) []byte {
	out := make([]byte, 0, 1+len(k))
	return append(append(out, s.prefix), k...)
}

// Get implements KV.Get.
func (s *SubKV) Get(key []byte) ([]byte, error) { return s.parent.Get(s.key(key)) }

// Iterate implements KV.Iterate; fn sees keys without the prefix.
func (s *SubKV) Iterate(prefix []byte, opts IterOptions, fn func(key, value []byte) error) error {
	o := IterOptions{Reverse: opts.Reverse}
	if opts.Start != nil {
		o.Start = s.key(opts.Start)
	}
	if opts.End != nil {
		o.End = s.key(opts.End)
	}
	return s.parent.Iterate(s.key(prefix), o, func(k, v []byte) error { return fn(k[1:], v) })
}

// NewBatch implements KV.NewBatch.
func (s *SubKV) NewBatch() Batch { return &subBatch{sub: s, b: s.parent.NewBatch()} }

type subBatch struct {
	sub      *SubKV
	b        Batch
	emptyKey bool // a Set or Delete had an empty key: Write refuses, as every KV does
}

func (b *subBatch) Set(key, value []byte) {
	b.emptyKey = b.emptyKey || len(key) == 0
	b.b.Set(b.sub.key(key), value)
}

func (b *subBatch) Delete(key []byte) {
	b.emptyKey = b.emptyKey || len(key) == 0
	b.b.Delete(b.sub.key(key))
}

func (b *subBatch) Write() error {
	if b.emptyKey {
		b.emptyKey = false // spent: a second Write gets ErrBatchDone from the parent
		b.b.Discard()
		return fmt.Errorf("%w in a %q batch", ErrEmptyKey, b.sub.prefix)
	}
	return b.b.Write()
}

func (b *subBatch) Discard() { b.b.Discard() }
