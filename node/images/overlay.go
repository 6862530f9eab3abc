package images

import (
	"container/list"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
)

// overlayCache keeps rendered overlays, least recently used first out,
// within a byte budget, and lets concurrent requests for one image share
// one rendering. An overlay depends only on the image's bytes and
// analysis, both fixed by its hash, so an entry never goes stale; the
// sweep drops the entries of the images it deletes (remove).
type overlayCache struct {
	limit int64 // bytes of PNG kept at most; 0 keeps none
	// served counts the overlays answered, by source: "cache", "joined"
	// (a rendering in progress for another request) or "rendered".
	served *prometheus.CounterVec

	mu      sync.Mutex // guards the fields below
	size    int64
	order   *list.List // of *overlayEntry, most recently used first
	entries map[chain.Hash]*list.Element
	flights map[chain.Hash]*flight
}

type overlayEntry struct {
	hash chain.Hash
	png  []byte
}

// flight is one rendering in progress; done is closed once png and err
// are set.
type flight struct {
	done chan struct{}
	png  []byte
	err  error
}

// errRenderUnfinished is what requests waiting on a rendering get when it
// panicked.
var errRenderUnfinished = errors.New("overlay rendering did not finish")

func newOverlayCache(limit int64) *overlayCache {
	return &overlayCache{
		limit: limit, order: list.New(), entries: map[chain.Hash]*list.Element{}, flights: map[chain.Hash]*flight{},
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waterchain_image_overlays_total",
			Help: "Image overlays answered, by source: cache, joined (a rendering in progress for another request) or rendered.",
		}, []string{"source"}),
	}
}

// get returns the overlay of h: from the cache, from a rendering already
// in progress, or from render, whose result is cached unless it failed or
// alone exceeds the budget. The returned bytes are shared: callers must
// not modify them.
func (c *overlayCache) get(h chain.Hash, render func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.entries[h]; ok {
		c.order.MoveToFront(e)
		png := e.Value.(*overlayEntry).png
		c.served.WithLabelValues("cache").Inc()
		c.mu.Unlock()
		return png, nil
	}
	if f, ok := c.flights[h]; ok {
		c.served.WithLabelValues("joined").Inc()
		c.mu.Unlock()
		<-f.done
		return f.png, f.err
	}
	f := &flight{done: make(chan struct{})}
	c.flights[h] = f
	c.served.WithLabelValues("rendered").Inc()
	c.mu.Unlock()

	defer func() {
		c.mu.Lock()
		delete(c.flights, h)
		if f.err == nil && f.png != nil {
			c.add(h, f.png)
		}
		c.mu.Unlock()
		close(f.done) // also when render panicked, so waiters do not hang
	}()
	f.err = errRenderUnfinished // stays if render panics
	f.png, f.err = render()
	return f.png, f.err
}

// add caches png under h and evicts the least recently used entries beyond
// the budget. Called with mu held.
func (c *overlayCache) add(h chain.Hash, png []byte) {
	n := int64(len(png))
	if n > c.limit {
		return
	}
	if _, ok := c.entries[h]; ok {
		return
	}
	c.entries[h] = c.order.PushFront(&overlayEntry{hash: h, png: png})
	c.size += n
	for c.size > c.limit {
		c.drop(c.order.Back())
	}
}

// remove forgets the overlay of h.
func (c *overlayCache) remove(h chain.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[h]; ok {
		c.drop(e)
	}
}

// drop removes one entry. Called with mu held.
func (c *overlayCache) drop(e *list.Element) {
	ent := c.order.Remove(e).(*overlayEntry)
	delete(c.entries, ent.hash)
	c.size -= int64(len(ent.png))
}
