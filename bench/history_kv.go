package bench

import (
	"fmt"
	"sync"

	"github.com/waterchain/waterchain/chain/store"
)

// groupKV writes the batches of many blocks as one batch of the KV below
// it, so that building a history costs one fsync per group instead of one
// per block (store.BadgerKV syncs every batch). Get sees the batches not
// yet written; Iterate writes them first. A crash loses the group being
// gathered, which for a history being built only means building it again.
type groupKV struct {
	kv store.KV

	mu     sync.Mutex // guards the fields below
	ops    []groupOp
	latest map[string]int // key → index in ops of its last write
	bytes  int
	closed bool
}

type groupOp struct {
	key, value []byte
	del        bool
}

// Bounds of a group: far under badger's batch limits (15% of the 192 MiB
// memtable, and writes × 96 bytes under it), above any one block of the
// history.
const (
	groupMaxBytes = 12 << 20
	groupMaxOps   = 60_000
)

var _ store.KV = (*groupKV)(nil)

func newGroupKV(kv store.KV) *groupKV { return &groupKV{kv: kv, latest: map[string]int{}} }

func (g *groupKV) Get(key []byte) ([]byte, error) {
	g.mu.Lock()
	if i, ok := g.latest[string(key)]; ok {
		op := g.ops[i]
		g.mu.Unlock()
		if op.del {
			return nil, fmt.Errorf("%w: key %x", store.ErrNotFound, key)
		}
		return append([]byte{}, op.value...), nil
	}
	g.mu.Unlock()
	return g.kv.Get(key)
}

func (g *groupKV) Iterate(prefix []byte, opts store.IterOptions, fn func(key, value []byte) error) error {
	if err := g.Flush(); err != nil {
		return err
	}
	return g.kv.Iterate(prefix, opts, fn)
}

func (g *groupKV) NewBatch() store.Batch { return &groupBatch{g: g} }

// Flush writes the gathered batches as one batch of the KV below.
func (g *groupKV) Flush() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.flushLocked()
}

func (g *groupKV) flushLocked() error {
	if len(g.ops) == 0 {
		return nil
	}
	b := g.kv.NewBatch()
	for _, op := range g.ops {
		if op.del {
			b.Delete(op.key)
		} else {
			b.Set(op.key, op.value)
		}
	}
	err := b.Write()
	g.ops, g.bytes = g.ops[:0], 0
	clear(g.latest)
	return err
}

// Close writes what is gathered and closes the KV below.
func (g *groupKV) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return store.ErrClosed
	}
	err := g.flushLocked()
	g.closed = true
	g.mu.Unlock()
	if cerr := g.kv.Close(); err == nil {
		err = cerr
	}
	return err
}

// groupBatch gathers one caller's writes; Write hands copies of them to
// the group.
type groupBatch struct {
	g    *groupKV
	ops  []groupOp
	done bool
}

func (b *groupBatch) Set(key, value []byte) {
	b.ops = append(b.ops, groupOp{key: key, value: value})
}

func (b *groupBatch) Delete(key []byte) {
	b.ops = append(b.ops, groupOp{key: key, del: true})
}

func (b *groupBatch) Discard() { b.done, b.ops = true, nil }

func (b *groupBatch) Write() error {
	if b.done {
		return store.ErrBatchDone
	}
	b.done = true
	for _, op := range b.ops {
		if len(op.key) == 0 {
			return fmt.Errorf("%w in a batch", store.ErrEmptyKey)
		}
	}
	g := b.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return store.ErrClosed
	}
	for _, op := range b.ops {
		c := groupOp{key: append([]byte{}, op.key...), del: op.del}
		if !op.del {
			c.value = append([]byte{}, op.value...)
		}
		g.latest[string(c.key)] = len(g.ops)
		g.ops = append(g.ops, c)
		g.bytes += len(c.key) + len(c.value)
	}
	b.ops = nil
	if g.bytes >= groupMaxBytes || len(g.ops) >= groupMaxOps {
		return g.flushLocked()
	}
	return nil
}
