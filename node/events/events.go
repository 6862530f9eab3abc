// Package events fans out what happens on a node — finalized blocks,
// finalized readings, alerts — to any number of subscribers, such as the
// server-sent events stream of GET /v1/events and the dashboard.
//
// Publishing never blocks the publisher (the node's commit path): a
// subscriber that does not keep up loses events and is told so by its
// Dropped count. Sequence numbers order the events of a hub; a filtered
// subscription sees gaps where events went to others. An event no
// subscriber wants is not even encoded. Subscribers must call Close.
package events

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/waterchain/waterchain/chain"
)

// Kinds of event the node publishes.
const (
	KindBlock = "block" // a finalized block of either lane
	KindAlert = "alert" // an alert raised by this node
	// KindFinal is one finalized reading. There is one per reading, so a
	// subscription receives them only when it asks for them, by kind or by
	// device (see Filter).
	KindFinal = "final"
)

// Event is one notification. Data is the JSON payload.
type Event struct {
	Seq  uint64          `json:"seq"`
	Kind string          `json:"kind"` // KindBlock, KindAlert, KindFinal
	Data json.RawMessage `json:"data"`
}

// Filter chooses the events a subscription receives. The zero Filter
// receives every kind but KindFinal.
type Filter struct {
	// Kinds, when set, are the kinds received; unset, every kind but
	// KindFinal (or, with Device set, every kind about a device).
	Kinds []string
	// Device, when set (not zero), keeps only the events about that device:
	// its readings' KindFinal events and its alerts.
	Device chain.PubKey
}

// accepts reports whether f lets through an event of kind about device
// (zero: about no device).
func (f *Filter) accepts(kind string, device chain.PubKey) bool {
	return (f.Device.IsZero() || device == f.Device) && f.mayAccept(kind)
}

// mayAccept reports whether f lets through events of kind about some
// device.
func (f *Filter) mayAccept(kind string) bool {
	if len(f.Kinds) > 0 {
		return slices.Contains(f.Kinds, kind)
	}
	return kind != KindFinal || !f.Device.IsZero()
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
	filter  Filter
	hub     *Hub
	dropped atomic.Uint64
	once    sync.Once
}

// Subscribe returns a subscription to every event but KindFinal,
// buffering up to buffer events.
func (h *Hub) Subscribe(buffer int) *Subscription { return h.SubscribeFiltered(buffer, Filter{}) }

// SubscribeFiltered returns a subscription to the events f accepts,
// buffering up to buffer events.
func (h *Hub) SubscribeFiltered(buffer int, f Filter) *Subscription {
	c := make(chan Event, buffer)
	f.Kinds = slices.Clone(f.Kinds)
	s := &Subscription{C: c, c: c, filter: f, hub: h}
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

// Wants reports whether some subscription may accept an event of kind
// (about some device): a publisher of many events of one kind asks first,
// and builds none when nobody listens.
func (h *Hub) Wants(kind string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.filter.mayAccept(kind) {
			return true
		}
	}
	return false
}

// Publish sends an event of kind with payload v (encoded as JSON) to every
// subscriber that accepts it and has room for it.
func (h *Hub) Publish(kind string, v any) { h.PublishAbout(kind, chain.PubKey{}, v) }

// PublishAbout is Publish for an event about device, which subscriptions
// filtered by device receive.
func (h *Hub) PublishAbout(kind string, device chain.PubKey, v any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ev Event
	for s := range h.subs {
		if !s.filter.accepts(kind, device) {
			continue
		}
		if ev.Data == nil {
			data, err := json.Marshal(v)
			if err != nil {
				return
			}
			ev = Event{Seq: h.seq.Add(1), Kind: kind, Data: data}
		}
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
