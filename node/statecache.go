package node

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
)

// stateCache is an in-memory copy of the committed state (both lanes'
// namespaces), kept in key order. The state machines read the whole data or
// tx namespace for every block's state root; from badger that iteration was
// the largest single cost of a busy node (a fifth of its CPU in the bench
// profile), from memory it is a slice walk. The store stays the source of
// truth: the cache is loaded from it at start and updated with each
// committed block's changes, after the store write.
//
// The loop is the only writer. Readers on other goroutines (API handlers)
// see each Get or Iterate atomically; values are never modified in place.
type stateCache struct {
	mu   sync.RWMutex // guards keys and vals
	keys []string     // sorted
	vals map[string][]byte
}

var _ state.Reader = (*stateCache)(nil)

// loadStateCache reads every state entry of st.
func loadStateCache(st *store.Store) (*stateCache, error) {
	c := &stateCache{vals: make(map[string][]byte)}
	err := st.IterateState(nil, func(key, value []byte) error {
		k := string(key)
		c.keys = append(c.keys, k)
		c.vals[k] = bytes.Clone(value)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the state: %w", err)
	}
	sort.Strings(c.keys) // the store iterates in key order; this only guards that
	return c, nil
}

// Get returns the value of key, or an error wrapping state.ErrNotFound.
func (c *stateCache) Get(key []byte) ([]byte, error) {
	c.mu.RLock()
	v, ok := c.vals[string(key)]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", state.ErrNotFound, key)
	}
	return v, nil
}

// Iterate calls fn for every entry whose key starts with prefix, in key
// order. It works on a snapshot of the matching entries, so fn may call Get
// and the loop may commit meanwhile.
func (c *stateCache) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	p := string(prefix)
	c.mu.RLock()
	i := sort.SearchStrings(c.keys, p)
	j := i
	for j < len(c.keys) && len(c.keys[j]) >= len(p) && c.keys[j][:len(p)] == p {
		j++
	}
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

// apply records committed changes. Called on the loop after the store
// write.
func (c *stateCache) apply(changes []store.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		k := string(ch.Key)
		_, exists := c.vals[k]
		if ch.Delete {
			if exists {
				delete(c.vals, k)
				i := sort.SearchStrings(c.keys, k)
				c.keys = append(c.keys[:i], c.keys[i+1:]...)
			}
			continue
		}
		c.vals[k] = bytes.Clone(ch.Value)
		if !exists {
			i := sort.SearchStrings(c.keys, k)
			c.keys = append(c.keys, "")
			copy(c.keys[i+1:], c.keys[i:])
			c.keys[i] = k
		}
	}
}

// errStateCache marks a cache that disagrees with the store (a bug).
var errStateCache = errors.New("state cache differs from the store")

// checkAgainst compares the cache with the store entry by entry; tests use
// it.
func (c *stateCache) checkAgainst(st *store.Store) error {
	fresh, err := loadStateCache(st)
	if err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(fresh.keys) != len(c.keys) {
		return fmt.Errorf("%w: %d entries, the store has %d", errStateCache, len(c.keys), len(fresh.keys))
	}
	for i, k := range fresh.keys {
		if c.keys[i] != k || !bytes.Equal(c.vals[k], fresh.vals[k]) {
			return fmt.Errorf("%w: at key %q", errStateCache, k)
		}
	}
	return nil
}
