package state

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// Cache is an in-memory copy of a committed state, kept in key order: the
// node keeps its committed state in one (loaded from its store at start and
// updated with each committed block's changes after the store write; the
// store stays the source of truth), and the auditor re-executes the chain
// into one.
//
// It also keeps the Merkle tree of each lane's namespace, so that a block's
// state root costs O(k log n) for k written keys instead of hashing the
// whole namespace (RootReader): Root over a block being built or
// executed patches the committed tree copy-on-write, and apply writes the
// committed block's patch in.
//
// One goroutine writes (Apply). Readers on other goroutines see each Get,
// Iterate or PendingRoot atomically; values are never modified in place.
type Cache struct {
	mu    sync.RWMutex // guards keys, vals and the nodes of trees
	keys  []string     // sorted
	vals  map[string][]byte
	trees [len(laneNamespaces)]RootTree // of laneNamespaces[i]'s entries
	// spareKeys is the key order before the last block that added or
	// removed a key, which the next such block writes its order into.
	// A new slice every time meant copying the whole order into fresh
	// memory; while meters sent their first readings (each a new key),
	// that was 13% of the nodes' CPU with 16 validators on one machine,
	// and 5% into the spare (the copy stays: O(keys) a block that adds
	// one). Only Apply uses it; nothing else keeps c.keys.
	spareKeys []string

	// applyEdits is Apply's scratch for a tree's leaf edits: only Apply
	// (one goroutine) uses it, and only while it runs.
	applyEdits []LeafEdit

	decoded decodedMemo // records decoded from vals; see decoded.go
	patches patchMemo   // patches made lately; see patchmemo.go
}

// laneNamespaces are the namespaces whose trees the cache keeps: the
// lanes' state roots.
var laneNamespaces = [...]string{TxPrefix, DataPrefix}

var _ RootReader = (*Cache)(nil)

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{vals: make(map[string][]byte)} }

// LoadCache fills a cache from each, which calls its argument for every
// entry of a committed state (a store's state iteration), and builds the
// lanes' trees.
func LoadCache(each func(fn func(key, value []byte) error) error) (*Cache, error) {
	c := NewCache()
	err := each(func(key, value []byte) error {
		k := string(key)
		c.keys = append(c.keys, k)
		c.vals[k] = bytes.Clone(value)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the state: %w", err)
	}
	sort.Strings(c.keys) // a store iterates in key order; this only guards that
	for t, p := range laneNamespaces {
		c.trees[t] = *c.buildTree(p)
	}
	return c, nil
}

// span is the range of c.keys starting with prefix. The caller holds mu.
func (c *Cache) span(prefix string) (from, to int) {
	from = sort.SearchStrings(c.keys, prefix)
	to = from + sort.Search(len(c.keys)-from, func(i int) bool {
		return !strings.HasPrefix(c.keys[from+i], prefix)
	})
	return from, to
}

// treeOf is the index in trees of prefix's tree, or -1 when the cache keeps
// none.
func treeOf(prefix []byte) int {
	for i, p := range laneNamespaces {
		if string(prefix) == p {
			return i
		}
	}
	return -1
}

// Get returns the value of key, or an error wrapping ErrNotFound.
func (c *Cache) Get(key []byte) ([]byte, error) {
	c.mu.RLock()
	v, ok := c.vals[string(key)]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return v, nil
}

// Iterate calls fn for every entry whose key starts with prefix, in key
// order. It works on a snapshot of the matching entries, so fn may call Get
// and the loop may commit meanwhile.
func (c *Cache) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	c.mu.RLock()
	i, j := c.span(string(prefix))
	keys := append([]string(nil), c.keys[i:j]...)
	vals := make([][]byte, len(keys))
	for k, key := range keys {
		vals[k] = c.vals[key]
	}
	c.mu.RUnlock()
	for k, key := range keys {
		if err := fn([]byte(key), vals[k]); err != nil {
			return err
		}
	}
	return nil
}

// PendingRoot implements RootReader for the lanes' namespaces: the
// root of prefix's entries with changes applied, from the committed tree
// without modifying it.
func (c *Cache) PendingRoot(prefix []byte, changes []Change) (chain.Hash, bool, error) {
	t := treeOf(prefix)
	if t < 0 {
		return chain.Hash{}, false, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(changes) == 0 {
		return c.trees[t].Root(), true, nil
	}
	patch, err := c.patch(t, changes)
	if err != nil {
		return chain.Hash{}, false, err
	}
	return patch.Root(), true, nil
}

// patch is tree t with changes (in key order, each key once, under the
// tree's namespace) applied: the one remembered for the same edits of the
// same tree (patchmemo.go), or a new one, then remembered. The caller
// holds mu, for reading at least.
func (c *Cache) patch(t int, changes []Change) (*TreePatch, error) {
	return c.patchIn(t, changes, nil)
}

// patchIn is patch with the leaf edits worked out in *scratch (grown when
// it has no room) rather than in a new slice, for a caller that commits
// and so nearly always finds the patch remembered: the edits, only looked
// up then, are not kept. The memo keeps a copy of them when it remembers
// a new patch. scratch nil is patch.
func (c *Cache) patchIn(t int, changes []Change, scratch *[]LeafEdit) (*TreePatch, error) {
	from, _ := c.span(laneNamespaces[t])
	var edits []LeafEdit
	if scratch != nil {
		edits = (*scratch)[:0]
	}
	if cap(edits) < len(changes) {
		edits = make([]LeafEdit, 0, len(changes))
	}
	edits, err := appendLeafEdits(edits, changes, func(key []byte) (int, bool) {
		// Not sort.SearchStrings: its string(key) would be allocated.
		i := sort.Search(len(c.keys), func(i int) bool { return c.keys[i] >= string(key) })
		return i - from, i < len(c.keys) && c.keys[i] == string(key)
	})
	if err != nil {
		return nil, fmt.Errorf("root of %q: %w", laneNamespaces[t], err)
	}
	if scratch != nil {
		*scratch = edits
	}
	if patch := c.patches.get(t, edits); patch != nil {
		return patch, nil
	}
	patch, err := c.trees[t].Patch(edits)
	if err != nil {
		return nil, fmt.Errorf("root of %q: %w", laneNamespaces[t], err)
	}
	if scratch != nil {
		edits = slices.Clone(edits) // the memo's, not the scratch the caller reuses
	}
	c.patches.put(t, edits, patch)
	return patch, nil
}

// Apply records committed changes, in order (a key may come more than
// once; the last change wins). The new key order and the trees' patches
// are worked out under the read lock (there being one writer, nothing
// changes meanwhile), so the write lock is held only to put them in.
func (c *Cache) Apply(changes []Change) {
	net := netChanges(changes)
	c.decoded.forget(net)
	c.mu.RLock()
	var patches [len(laneNamespaces)]*TreePatch
	var rebuild [len(laneNamespaces)]bool
	for t, p := range laneNamespaces {
		lane := underPrefix(net, p)
		if len(lane) == 0 {
			continue
		}
		var err error
		if patches[t], err = c.patchIn(t, lane, &c.applyEdits); err != nil {
			// The tree does not match the keys it was built from:
			// a bug, but the entries are right, so build it again.
			rebuild[t] = true
		}
	}
	keys := mergeKeys(c.spareKeys, c.keys, c.vals, net)
	c.mu.RUnlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	at := 0 // where the search for the next written key starts: net ascends
	for _, ch := range net {
		if ch.Delete {
			delete(c.vals, string(ch.Key))
			continue
		}
		// The key's string in the new order (mergeKeys made one for a
		// new key) is the map's key too: string(ch.Key) would be a
		// new copy for every change, and a second copy of the key kept.
		at += sort.Search(len(keys)-at, func(i int) bool { return keys[at+i] >= string(ch.Key) })
		if at < len(keys) && keys[at] == string(ch.Key) {
			c.vals[keys[at]] = ch.Value
		} else { // cannot be: the new order has every key written
			c.vals[string(ch.Key)] = ch.Value
		}
	}
	if len(keys) != len(c.keys) || len(keys) > 0 && &keys[0] != &c.keys[0] {
		c.spareKeys = c.keys // a key came or went: the old order is free
	}
	c.keys = keys
	for t, p := range patches {
		if p != nil && c.trees[t].Apply(p) != nil {
			rebuild[t] = true
		}
		if rebuild[t] {
			c.trees[t] = *c.buildTree(laneNamespaces[t])
		}
		if p != nil || rebuild[t] {
			c.patches.forget(t)
		}
	}
}

// buildTree builds the tree of prefix's entries. The caller holds mu.
func (c *Cache) buildTree(prefix string) *RootTree {
	from, to := c.span(prefix)
	leaves := make([]chain.Hash, to-from)
	for j, k := range c.keys[from:to] {
		leaves[j] = EntryLeafHash([]byte(k), c.vals[k])
	}
	return NewRootTree(leaves)
}

// netChanges is the net effect of changes applied in order: one change a
// key, the last, in key order, values copied.
func netChanges(changes []Change) []Change {
	out := make([]Change, len(changes))
	for i, ch := range changes {
		out[i] = Change{Key: ch.Key, Value: bytes.Clone(ch.Value), Delete: ch.Delete}
	}
	slices.SortStableFunc(out, func(a, b Change) int { return bytes.Compare(a.Key, b.Key) })
	n := 0
	for i := range out {
		if n > 0 && bytes.Equal(out[n-1].Key, out[i].Key) {
			n--
		}
		out[n] = out[i]
		n++
	}
	return out[:n]
}

// underPrefix is the run of changes (in key order) whose keys start with
// prefix.
func underPrefix(changes []Change, prefix string) []Change {
	from := sort.Search(len(changes), func(i int) bool { return string(changes[i].Key) >= prefix })
	to := from
	for to < len(changes) && bytes.HasPrefix(changes[to].Key, []byte(prefix)) {
		to++
	}
	return changes[from:to]
}

// mergeKeys is keys (sorted, the keys of vals) after changes (in key
// order). It returns keys itself when no key comes or goes, and otherwise
// the new order, written over dst (whose contents are lost; it must not
// share memory with keys) when it has room.
func mergeKeys(dst, keys []string, vals map[string][]byte, changes []Change) []string {
	added, removed := 0, 0
	for _, ch := range changes {
		_, exists := vals[string(ch.Key)]
		switch {
		case ch.Delete && exists:
			removed++
		case !ch.Delete && !exists:
			added++
		}
	}
	if added == 0 && removed == 0 {
		return keys
	}
	out := dst[:0]
	if cap(out) < len(keys)+added-removed {
		out = make([]string, 0, len(keys)+added-removed)
	}
	i := 0
	for _, ch := range changes {
		k := string(ch.Key)
		for i < len(keys) && keys[i] < k {
			out = append(out, keys[i])
			i++
		}
		exists := i < len(keys) && keys[i] == k
		if exists {
			i++
		}
		if !ch.Delete {
			out = append(out, k)
		}
	}
	return append(out, keys[i:]...)
}

// ErrCacheMismatch is returned by Cache.Equal for caches that differ.
var ErrCacheMismatch = errors.New("state caches differ")

// Equal compares c with other entry by entry, and their trees' roots; a
// node's tests compare its cache with one loaded afresh from its store.
func (c *Cache) Equal(other *Cache) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	other.mu.RLock()
	defer other.mu.RUnlock()
	if len(other.keys) != len(c.keys) {
		return fmt.Errorf("%w: %d entries against %d", ErrCacheMismatch, len(c.keys), len(other.keys))
	}
	for i, k := range other.keys {
		if c.keys[i] != k || !bytes.Equal(c.vals[k], other.vals[k]) {
			return fmt.Errorf("%w: at key %q", ErrCacheMismatch, k)
		}
	}
	for t, p := range laneNamespaces {
		if got, want := c.trees[t].Root(), other.trees[t].Root(); got != want {
			return fmt.Errorf("%w: root of %q %s against %s", ErrCacheMismatch, p, got, want)
		}
	}
	return nil
}
