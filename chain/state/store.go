package state

import (
	"bytes"
	"errors"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// ErrNotFound is what Reader.Get returns (possibly wrapped) for an absent
// key.
var ErrNotFound = errors.New("not found")

// Reader is the committed state as this package sees it. The node implements
// it over its store; MemStore implements it in memory.
//
// Get returns the value stored under key, or an error wrapping ErrNotFound
// when there is none; it must not keep key after it returns (builders
// build every key they read in one scratch buffer). Iterate calls fn for
// every key starting with prefix, in ascending byte order of keys, and
// stops at the first error fn returns, returning it. fn must not keep or
// modify key or value after it returns.
// Neither method is called concurrently by this package on one Reader, and
// the Reader must not change while a function of this package uses it.
type Reader interface {
	Get(key []byte) ([]byte, error)
	Iterate(prefix []byte, fn func(key, value []byte) error) error
}

// Change is one write of a block: Value under Key, or the removal of Key
// when Delete is set. The node stores a block's changes atomically with the
// block.
type Change struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Apply stores a block's changes, as the node does atomically with the
// block.
func (s *MemStore) Apply(changes []Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		if c.Delete {
			delete(s.m, string(c.Key))
			continue
		}
		s.m[string(c.Key)] = append([]byte(nil), c.Value...)
	}
}

// MemStore is an in-memory Reader for tests and tools. It is safe for
// concurrent use; a mutex guards the map.
type MemStore struct {
	mu sync.RWMutex // guards m
	m  map[string][]byte
}

var _ Reader = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{m: make(map[string][]byte)} }

// Get implements Reader.
func (s *MemStore) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

// Iterate implements Reader. It works on a snapshot taken when it starts, so
// fn may call Get.
func (s *MemStore) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	s.mu.RLock()
	type kv struct{ k, v string }
	var pairs []kv
	p := string(prefix)
	for k, v := range s.m {
		if strings.HasPrefix(k, p) {
			pairs = append(pairs, kv{k, string(v)})
		}
	}
	s.mu.RUnlock()
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	for _, e := range pairs {
		if err := fn([]byte(e.k), []byte(e.v)); err != nil {
			return err
		}
	}
	return nil
}

// Len is the number of keys stored.
func (s *MemStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// overlay is a set of pending writes over a Reader. It is itself a Reader,
// so overlays stack: a transaction's writes sit on the block's, which sit
// on the committed state, and are merged down only when the transaction
// applies.
type overlay struct {
	base   Reader
	writes map[string]pending
}

type pending struct {
	value  []byte
	delete bool
}

var _ Reader = (*overlay)(nil)

func newOverlay(base Reader) *overlay {
	return &overlay{base: base, writes: make(map[string]pending)}
}

func (o *overlay) Get(key []byte) ([]byte, error) {
	if w, ok := o.writes[string(key)]; ok {
		if w.delete {
			return nil, ErrNotFound
		}
		return w.value, nil
	}
	return o.base.Get(key)
}

func (o *overlay) set(key, value []byte) {
	o.writes[string(key)] = pending{value: value}
}

func (o *overlay) del(key []byte) {
	o.writes[string(key)] = pending{delete: true}
}

// merge moves child's writes into o; child must be an overlay over o.
func (o *overlay) merge(child *overlay) {
	for k, w := range child.writes {
		o.writes[k] = w
	}
}

// Iterate merges the pending writes under prefix with the base's entries,
// in key order.
func (o *overlay) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	var mine []string
	for k := range o.writes {
		if strings.HasPrefix(k, string(prefix)) {
			mine = append(mine, k)
		}
	}
	sort.Strings(mine)
	i := 0
	emitMineBefore := func(limit []byte) error {
		for i < len(mine) && (limit == nil || mine[i] < string(limit)) {
			k := mine[i]
			i++
			if w := o.writes[k]; !w.delete {
				if err := fn([]byte(k), w.value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := o.base.Iterate(prefix, func(key, value []byte) error {
		if err := emitMineBefore(key); err != nil {
			return err
		}
		if w, ok := o.writes[string(key)]; ok {
			i++ // mine[i] == key: the base entry is shadowed
			if w.delete {
				return nil
			}
			return fn(key, w.value)
		}
		return fn(key, value)
	})
	if err != nil {
		return err
	}
	return emitMineBefore(nil)
}

// changes lists the pending writes in key order.
func (o *overlay) changes() []Change { return sortedChanges(o.writes, "") }

// sortedChanges lists the writes under prefix in key order.
func sortedChanges(writes map[string]pending, prefix string) []Change {
	keys := make([]string, 0, len(writes))
	for k := range writes {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	// The keys are copied into one array, each capped so that appending
	// to one cannot write into the next: one allocation, not one a key.
	size := 0
	for _, k := range keys {
		size += len(k)
	}
	arena := make([]byte, 0, size)
	out := make([]Change, len(keys))
	for n, k := range keys {
		w := writes[k]
		from := len(arena)
		arena = append(arena, k...)
		out[n] = Change{Key: arena[from:len(arena):len(arena)], Value: w.value, Delete: w.delete}
	}
	return out
}

// Root is the state root of one lane's namespace (TxPrefix or DataPrefix):
// the RFC 6962 Merkle root (chain.MerkleRoot) of every entry under prefix,
// in key order, each leaf being uvarint(len(key)) || key || value.
//
// When r, or the committed Reader under r's pending writes, is a
// RootReader keeping a tree for prefix, the root comes from its tree and
// the pending writes (O(k log n) for k updated keys); otherwise Root walks
// the namespace (O(n)).
func Root(r Reader, prefix []byte) (chain.Hash, error) {
	base, pending := pendingUnder(r, prefix)
	if rr, ok := base.(RootReader); ok {
		root, ok, err := rr.PendingRoot(prefix, pending)
		if err != nil {
			return chain.Hash{}, err
		}
		if ok {
			return root, nil
		}
	}
	return walkRoot(r, prefix)
}

// rootAfter is Root over r with changes (in key order, each key once)
// written on top: the root of a block whose builder writes its changes
// straight into a list rather than into an overlay (DataBuilder).
func rootAfter(r Reader, prefix []byte, changes []Change) (chain.Hash, error) {
	if rr, ok := r.(RootReader); ok { // an overlay is not one: Root below sees through it
		root, ok, err := rr.PendingRoot(prefix, underPrefix(changes, string(prefix)))
		if err != nil {
			return chain.Hash{}, err
		}
		if ok {
			return root, nil
		}
	}
	o := newOverlay(r)
	for _, ch := range changes {
		if ch.Delete {
			o.del(ch.Key)
		} else {
			o.set(ch.Key, ch.Value)
		}
	}
	return Root(o, prefix)
}

// pendingUnder returns the Reader under r's overlays (r itself when it is
// not an overlay) and the overlays' net writes under prefix, in key order:
// an outer overlay's write of a key hides an inner one's.
func pendingUnder(r Reader, prefix []byte) (Reader, []Change) {
	o, ok := r.(*overlay)
	if !ok {
		return r, nil
	}
	var chainOf []*overlay
	for ok {
		chainOf = append(chainOf, o)
		r = o.base
		o, ok = r.(*overlay)
	}
	net := chainOf[0].writes
	if len(chainOf) > 1 {
		net = make(map[string]pending)
		for i := len(chainOf) - 1; i >= 0; i-- {
			maps.Copy(net, chainOf[i].writes)
		}
	}
	return r, sortedChanges(net, string(prefix))
}

// walkRoot is Root by walking every entry under prefix.
func walkRoot(r Reader, prefix []byte) (chain.Hash, error) {
	var leaves []chain.Hash
	err := r.Iterate(prefix, func(key, value []byte) error {
		leaves = append(leaves, EntryLeafHash(key, value))
		return nil
	})
	if err != nil {
		return chain.Hash{}, err
	}
	return NewRootTree(leaves).Root(), nil
}

// TxRoot and DataRoot are the state roots of the committed state r.
func TxRoot(r Reader) (chain.Hash, error)   { return Root(r, []byte(TxPrefix)) }
func DataRoot(r Reader) (chain.Hash, error) { return Root(r, []byte(DataPrefix)) }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func hasPrefix(b []byte, p string) bool { return bytes.HasPrefix(b, []byte(p)) }
