package node

import (
	"strings"
	"time"
)

// startClock times the phases of a node's start (New, then Start) for the
// "node started" line. A restart must cost the same however long the chain
// is (issue 15; docs/performance-log.md, "A long history"): the line
// shows which phase, if any, grows with it. Used by New and Start only, before the loop runs.
type startClock struct {
	begin, last time.Time
	phases      []string // "name=duration", in order
}

func newStartClock() startClock {
	now := time.Now()
	return startClock{begin: now, last: now}
}

// done ends the phase name, which began where the last one ended.
func (c *startClock) done(name string) {
	now := time.Now()
	c.phases = append(c.phases, name+"="+now.Sub(c.last).Round(time.Millisecond).String())
	c.last = now
}

// took is the time since the clock started.
func (c *startClock) took() time.Duration { return time.Since(c.begin).Round(time.Millisecond) }

// String lists the phases: "badger=1.2s store=3ms …".
func (c *startClock) String() string { return strings.Join(c.phases, " ") }
