package store

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// MemoryKV is a KV in memory, for tests and tools: a sorted, immutable
// snapshot that each batch write replaces with a new one (copy on write),
// so readers never wait for writers and an iteration sees one snapshot.
// Writes cost time linear in the number of keys; it is not meant for large
// stores. It is safe for concurrent use.
type MemoryKV struct {
	writeMu sync.Mutex                // serializes batch writes; readers take no lock
	snap    atomic.Pointer[[]memPair] // current sorted snapshot, never modified in place
	closed  atomic.Bool
}

type memPair struct {
	key, value []byte
}

var _ KV = (*MemoryKV)(nil)

// NewMemory returns an empty in-memory KV.
func NewMemory() *MemoryKV {
	m := &MemoryKV{}
	m.snap.Store(&[]memPair{})
	return m
}

func (m *MemoryKV) snapshot() ([]memPair, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	return *m.snap.Load(), nil
}

func search(pairs []memPair, key []byte) (int, bool) {
	return slices.BinarySearchFunc(pairs, key, func(p memPair, k []byte) int { return bytes.Compare(p.key, k) })
}

// Get implements KV.
func (m *MemoryKV) Get(key []byte) ([]byte, error) {
	pairs, err := m.snapshot()
	if err != nil {
		return nil, err
	}
	i, ok := search(pairs, key)
	if !ok {
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	return bytes.Clone(pairs[i].value), nil
}

// Iterate implements KV. fn receives copies, so a caller that breaks the
// contract by keeping them cannot corrupt the store.
func (m *MemoryKV) Iterate(prefix []byte, opts IterOptions, fn func(key, value []byte) error) error {
	pairs, err := m.snapshot()
	if err != nil {
		return err
	}
	lo, hi := iterBounds(prefix, opts)
	first, _ := search(pairs, lo)
	last := len(pairs) // exclusive
	if hi != nil {
		last, _ = search(pairs, hi)
	}
	if first >= last {
		return nil
	}
	visit := func(p memPair) error { return fn(bytes.Clone(p.key), bytes.Clone(p.value)) }
	if opts.Reverse {
		for i := last - 1; i >= first; i-- {
			if err := visit(pairs[i]); err != nil {
				return stopped(err)
			}
		}
		return nil
	}
	for i := first; i < last; i++ {
		if err := visit(pairs[i]); err != nil {
			return stopped(err)
		}
	}
	return nil
}

// NewBatch implements KV.
func (m *MemoryKV) NewBatch() Batch { return &memBatch{kv: m} }

// Close implements KV. It drops the data.
func (m *MemoryKV) Close() error {
	if m.closed.Swap(true) {
		return ErrClosed
	}
	m.writeMu.Lock()
	m.snap.Store(&[]memPair{})
	m.writeMu.Unlock()
	return nil
}

// Len is the number of keys stored.
func (m *MemoryKV) Len() int {
	return len(*m.snap.Load())
}

type memOp struct {
	key, value []byte
	del        bool
}

type memBatch struct {
	kv   *MemoryKV
	ops  []memOp
	done bool
	err  error
}

func (b *memBatch) Set(key, value []byte) {
	if len(key) == 0 && b.err == nil {
		b.err = fmt.Errorf("%w in Set", ErrEmptyKey)
	}
	b.ops = append(b.ops, memOp{key: key, value: value})
}

func (b *memBatch) Delete(key []byte) {
	if len(key) == 0 && b.err == nil {
		b.err = fmt.Errorf("%w in Delete", ErrEmptyKey)
	}
	b.ops = append(b.ops, memOp{key: key, del: true})
}

func (b *memBatch) Discard() {
	b.done = true
	b.ops = nil
}

func (b *memBatch) Write() error {
	if b.done {
		return ErrBatchDone
	}
	b.done = true
	ops := b.ops
	b.ops = nil
	if b.err != nil {
		return b.err
	}
	// Order by key, keeping the batch order within a key, so that the last
	// write of a key is the one that counts.
	slices.SortStableFunc(ops, func(x, y memOp) int { return bytes.Compare(x.key, y.key) })
	m := b.kv
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	old := *m.snap.Load()
	merged := make([]memPair, 0, len(old)+len(ops))
	i := 0
	for j := 0; j < len(ops); {
		// The last op of this key wins.
		k := j
		for k+1 < len(ops) && bytes.Equal(ops[k+1].key, ops[j].key) {
			k++
		}
		op := ops[k]
		j = k + 1
		for i < len(old) && bytes.Compare(old[i].key, op.key) < 0 {
			merged = append(merged, old[i])
			i++
		}
		if i < len(old) && bytes.Equal(old[i].key, op.key) {
			i++ // replaced or deleted
		}
		if !op.del {
			merged = append(merged, memPair{key: bytes.Clone(op.key), value: cloneValue(op.value)})
		}
	}
	merged = append(merged, old[i:]...)
	m.snap.Store(&merged)
	return nil
}

// cloneValue copies v, keeping an empty value non-nil so it reads back as
// present and empty.
func cloneValue(v []byte) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	return out
}
