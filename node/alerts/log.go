package alerts

import (
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// Log keeps the most recent alerts in memory for the API (GET /v1/alerts):
// a bounded buffer that forgets the oldest, ignores an alert it already
// holds (same ID, as when the chain is replayed), and lists newest first.
// Safe for concurrent use.
type Log struct {
	mu    sync.Mutex // guards items, ids
	cap   int
	items []Alert // oldest first
	ids   map[chain.Hash]bool
}

// NewLog makes a log holding up to capacity alerts (at least 1).
func NewLog(capacity int) *Log {
	return &Log{cap: max(1, capacity), ids: map[chain.Hash]bool{}}
}

// Add appends alerts; it reports how many were new.
func (l *Log) Add(as ...Alert) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	added := 0
	for _, a := range as {
		if l.ids[a.ID] {
			continue
		}
		if len(l.items) == l.cap {
			delete(l.ids, l.items[0].ID)
			l.items = append(l.items[:0], l.items[1:]...)
		}
		l.items = append(l.items, a)
		l.ids[a.ID] = true
		added++
	}
	return added
}

// Filter selects alerts; zero fields select all.
type Filter struct {
	Device   chain.PubKey
	Industry chain.Address
	Kind     Kind
	// Since keeps alerts whose Time is at or after it.
	Since chain.Time
	// Limit bounds the answer (0: all).
	Limit int
}

// List returns the matching alerts, newest first.
func (l *Log) List(f Filter) []Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Alert{}
	for i := len(l.items) - 1; i >= 0; i-- {
		a := l.items[i]
		switch {
		case !f.Device.IsZero() && a.Device != f.Device,
			!f.Industry.IsZero() && a.Industry != f.Industry,
			f.Kind != "" && a.Kind != f.Kind,
			a.Time < f.Since:
			continue
		}
		out = append(out, a)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out
}

// Len is the number of alerts held.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}
