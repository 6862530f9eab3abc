package state

import (
	"slices"
	"sync"
)

// A block's state root is worked out twice on every node: when the block
// is built or validated (Root over the executed overlay: PendingRoot) and
// when it commits (Cache.Apply writes the same changes in). A patch of a
// tree costs O(k log n) for k updated keys, but a block that adds a key
// (a meter's first reading, a new account) moves every leaf after it, and
// its patch hashes that part of the tree again: O(n) for n keys of the
// namespace. patchMemo keeps the patches made lately, so that the second
// time costs the leaf edits only.
//
// A patch is a pure function of the tree and the leaf edits (positions,
// operations and leaf hashes, which cover keys and values), so an entry
// matches when its edits are equal, and Cache.Apply forgets a tree's
// entries when it changes the tree (under the write lock, so no
// PendingRoot of the old tree can put one back). A value changed in place
// by a caller after PendingRoot changes its leaf hash, and so misses.

// patchMemoSize bounds the patches kept: the proposal built or validated
// in each round that came to it, before its commit. A patch that inserts
// holds up to two hashes a leaf of its namespace (256 KiB for 4,000
// meters' records).
const patchMemoSize = 4

type patchMemo struct {
	mu      sync.Mutex
	entries [patchMemoSize]memoPatch
	next    int // the entry replaced next
}

type memoPatch struct {
	tree  int // index in laneNamespaces
	edits []LeafEdit
	patch *TreePatch
}

// get returns the patch remembered for edits of tree t, or nil.
func (m *patchMemo) get(t int, edits []LeafEdit) *TreePatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.entries {
		e := &m.entries[i]
		if e.patch != nil && e.tree == t && slices.Equal(e.edits, edits) {
			return e.patch
		}
	}
	return nil
}

// put remembers patch, made from edits of tree t.
func (m *patchMemo) put(t int, edits []LeafEdit, patch *TreePatch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[m.next] = memoPatch{tree: t, edits: edits, patch: patch}
	m.next = (m.next + 1) % patchMemoSize
}

// forget drops every entry of tree t, which has changed.
func (m *patchMemo) forget(t int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.entries {
		if m.entries[i].tree == t {
			m.entries[i] = memoPatch{}
		}
	}
}
