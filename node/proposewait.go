package node

import "time"

// The propose timer of a lane stretches while proposals come late.
//
// A validator starts its propose timer when it enters a round; the
// proposer can propose only once it has committed the previous block and
// built its own. With 16 validators as processes on two cores, one node's
// commit and build of a 500-reading block took from 0.05 to 3 s, so the
// validators entered a height up to 3 to 6 s apart (node logs of
// "waterchain bench --processes --validators 16 --rates 500"), and when
// the proposer was among the late ones its proposal came after the
// others' 1 s timeout: they prevoted nil, the round was lost, and the next
// round's proposer built and every node validated another block, which
// loaded the machine further. Three of the step's 13 blocks were decided
// in round 1 or 2, each after 4 to 9 s.
//
// proposeWait keeps how long after this node entered a round its proposal
// arrived, for the last proposalSamples proposals of the lane, and lets
// the timer run to twice the longest of them, between the engine's
// timeout and maxProposeStretch times it. Where proposals come well
// within the timeout (4 validators, a quiet machine) nothing changes; a
// crashed proposer costs at most maxProposeStretch timeouts in a round
// after late proposals, and timeouts bear on liveness only.
type proposeWait struct {
	// height and round are the round this node entered last, at started;
	// arrived is set once its proposal came.
	height  uint64
	round   uint32
	started time.Time
	arrived bool
	delays  [proposalSamples]time.Duration
	next    int
}

const (
	// proposalSamples is how many recent proposal delays count.
	proposalSamples = 8
	// maxProposeStretch bounds the stretched timer, in engine timeouts.
	maxProposeStretch = 4
)

// roundStarted notes that the engine entered height/round at now (it set
// the round's propose timer). A second timer for the same round (the
// engine extends it while the proposal is being validated) is no new
// start.
func (w *proposeWait) roundStarted(height uint64, round uint32, now time.Time) {
	if !w.started.IsZero() && w.height == height && w.round == round {
		return
	}
	w.height, w.round, w.started, w.arrived = height, round, now, false
}

// proposalArrived notes that the engine took a proposal for height/round
// at now; only the first of the round this node is in counts.
func (w *proposeWait) proposalArrived(height uint64, round uint32, now time.Time) {
	if w.arrived || w.started.IsZero() || w.height != height || w.round != round {
		return
	}
	w.arrived = true
	w.delays[w.next] = now.Sub(w.started)
	w.next = (w.next + 1) % proposalSamples
}

// timeout is how long a propose timer the engine set to base runs.
func (w *proposeWait) timeout(base time.Duration) time.Duration {
	var longest time.Duration
	for _, d := range w.delays {
		longest = max(longest, d)
	}
	return min(max(base, 2*longest), maxProposeStretch*base)
}
