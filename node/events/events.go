// Package events fans out what happens on a node — finalized blocks, alerts
// — to any number of subscribers, such as the server-sent events stream of
// GET /v1/events and the dashboard.
//
// Publishing never blocks the publisher (the node's commit path): a
// subscriber that does not keep up loses events and is told so by a gap in
// the sequence numbers and a Dropped count. Subscribers must call Close.
package events

import (
	"encoding/json"
	"sync"
	"sync/atomic"
)

// Event is one notification. Data is the JSON payload.
type Event struct {
	Seq  uint64          `json:"seq"`
	Kind string          `json:"kind"` // "block" | "alert" | ...
	Data json.RawMessage `json:"data"`
}

// Hub distributes events to subscribers.
type Hub struct {
	seq atomic.Uint64

	mu   sync.Mutex // guards subs
	subs map[*Subscription]struct{}
}

// NewHub makes an empty hub.
func NewHub() *Hub { return &Hub{subs: make(map[*Subscription]struct{})} }

// Subscription receives events on C until Close.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	hub     *Hub
	dropped atomic.Uint64
	once    sync.Once
}

// Subscribe returns a subscription buffering up to buffer events.
func (h *Hub) Subscribe(buffer int) *Subscription {
	c := make(chan Event, buffer)
	s := &Subscription{C: c, c: c, hub: h}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Dropped is the number of events this subscriber missed for being slow.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.hub.mu.Lock()
		delete(s.hub.subs, s)
		s.hub.mu.Unlock()
		close(s.c)
	})
}

// Publish sends an event of kind with payload v (encoded as JSON) to every
// subscriber that has room for it.
func (h *Hub) Publish(kind string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	ev := Event{Seq: h.seq.Add(1), Kind: kind, Data: data}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

// Subscribers is the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
