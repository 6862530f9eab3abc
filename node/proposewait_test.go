package node

import (
	"testing"
	"time"
)

// TestProposeWait works the stretched propose timer by hand: proposals
// within half the timeout change nothing; one that came 1.5 s after the
// round began makes the next rounds wait 3 s; the stretch stops at
// maxProposeStretch timeouts, and a late proposal leaves the window after
// proposalSamples others.
func TestProposeWait(t *testing.T) {
	const base = time.Second
	t0 := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	var w proposeWait
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	check := func(what string, want time.Duration) {
		t.Helper()
		if got := w.timeout(base); got != want {
			t.Fatalf("%s: timeout %s, want %s", what, got, want)
		}
	}
	check("no proposal seen", base)

	w.roundStarted(1, 0, at(0))
	w.proposalArrived(1, 0, at(400))
	check("proposal after 0.4 s", base)

	w.roundStarted(2, 0, at(1000))
	w.roundStarted(2, 0, at(1900))    // the engine extends the same round's timer: no new start
	w.proposalArrived(2, 1, at(2000)) // another round's proposal: not this one's
	w.proposalArrived(2, 0, at(2500))
	w.proposalArrived(2, 0, at(2600)) // a second proposal of the round (a relay) does not count
	check("proposal after 1.5 s", 3*time.Second)

	w.roundStarted(3, 0, at(10_000))
	w.proposalArrived(3, 0, at(13_000))
	check("proposal after 3 s", maxProposeStretch*base)

	for h := uint64(4); h < 4+proposalSamples-1; h++ {
		w.roundStarted(h, 0, at(int(h)*10_000))
		w.proposalArrived(h, 0, at(int(h)*10_000+100))
	}
	check("the 3 s proposal is still among the last 8", maxProposeStretch*base)
	w.roundStarted(20, 0, at(200_000))
	w.proposalArrived(20, 0, at(200_100))
	check("the late proposals left the window", base)
}
