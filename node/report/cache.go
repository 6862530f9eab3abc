package report

import "sync"

// CacheSize is how many reports a Cache keeps.
const CacheSize = 8

// Cache keeps the last CacheSize reports of settled periods, least
// recently used out first, for a node that serves them again and again:
// a settled period's figures no longer change. A report is kept with the
// number of its rows, so that an industry registered since (a new row)
// makes it stale. The zero value is ready; it is safe for concurrent use.
// Reports from it are shared: callers must not modify them.
type Cache struct {
	mu      sync.Mutex
	entries []*Report // least recently used first
}

// Get returns the kept report of period index made with industries rows,
// or nil.
func (c *Cache) Get(index int64, industries int) *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.entries {
		if r.Index == index && len(r.Rows) == industries {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), r)
			return r
		}
	}
	return nil
}

// Put keeps rep if its period is settled (other reports are provisional
// and are not kept), in place of any other report of its period.
func (c *Cache) Put(rep *Report) {
	if rep == nil || rep.Status != "settled" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.entries[:0]
	for _, r := range c.entries {
		if r.Index != rep.Index {
			kept = append(kept, r)
		}
	}
	if len(kept) == CacheSize {
		kept = append(kept[:0], kept[1:]...)
	}
	c.entries = append(kept, rep)
}
