package node

import (
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// sigCache remembers the hashes of entries (readings, transactions) whose
// signatures this node has verified, so that an entry checked at the door
// (HTTP, MQTT, gossip) is not checked again when a block carrying it is
// validated. An entry hash covers the signature bytes, so a hit means the
// very same signed bytes were verified.
//
// It holds at most max hashes in two generations: when the current one is
// full it becomes the old one and the previous old one is dropped.
type sigCache struct {
	max int

	mu       sync.Mutex // guards cur and old
	cur, old map[chain.Hash]struct{}
}

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, cur: make(map[chain.Hash]struct{}), old: make(map[chain.Hash]struct{})}
}

// Add records h as verified.
func (c *sigCache) Add(h chain.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.max/2 {
		c.old, c.cur = c.cur, make(map[chain.Hash]struct{}, c.max/2)
	}
	c.cur[h] = struct{}{}
}

// Has reports whether h was verified.
func (c *sigCache) Has(h chain.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[h]; ok {
		return true
	}
	_, ok := c.old[h]
	return ok
}
