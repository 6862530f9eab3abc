package node

import (
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
)

// The node keeps its committed state (both lanes' namespaces) in memory, in
// a state.Cache with the lanes' Merkle trees. The state machines read the
// whole data or tx namespace for every block's state root; from badger
// that iteration was the largest single cost of a busy node (a fifth of its
// CPU in the bench profile), and with the trees a block's root costs
// O(k log n) for k written keys. The store stays the source of truth: the
// cache is loaded from it at start and updated with each committed block's
// changes after the store write, on the loop (the only writer).

// loadStateCache reads every state entry of st.
func loadStateCache(st *store.Store) (*state.Cache, error) {
	return state.LoadCache(func(fn func(key, value []byte) error) error { return st.IterateState(nil, fn) })
}

// checkStateCache compares c with the state in st; tests use it.
func checkStateCache(c *state.Cache, st *store.Store) error {
	fresh, err := loadStateCache(st)
	if err != nil {
		return err
	}
	return c.Equal(fresh)
}
