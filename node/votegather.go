package node

import (
	"time"

	"github.com/waterchain/waterchain/chain"
)

// Votes are checked a phase at a time (readVotes with a voteGather).
//
// The votes of a phase (one lane, height, round and vote type) come from
// every validator within a few milliseconds of each other, each on its own
// stream, so checked as they came they were checked one at a time: at 16
// validators on two cores that was 12% of the nodes' CPU (each node checks
// 2(n−1) signatures a height), and a signature checked alone costs
// about 25 µs against 17 µs in a batch of 8 and 15 µs in one of 16
// (chain's BenchmarkBatchVerifySmall).
//
// The engine cannot act on a phase before it holds a quorum of its votes
// (every rule that counts votes needs a quorum, of one value or of any,
// except the skip to a round f+1 validators are in), and a validator's own
// vote is one of them. So a vote of a phase that has not yet brought
// quorum−1 votes from others waits until it has, and then all of them are
// checked in one batch: the phase moves when it would have, and its
// signatures cost a batch's price. Votes that come after are checked at
// once, in a batch with whatever else is waiting.
//
// A phase that never gathers its quorum (validators down or cut off: the
// engine waits for a timeout then) releases what it holds after
// voteGatherHold, so votes that do matter alone (those of a later round,
// f+1 of which move the engine to it) wait at most that. Sets whose
// quorum needs fewer than voteGatherMin votes of others (up to 5
// validators) are not held: a batch of 2 or 3 saves little.
const (
	voteGatherHold = 20 * time.Millisecond
	voteGatherMin  = 4
)

// votePhase names the votes the engine counts together.
type votePhase struct {
	lane   chain.Lane
	height uint64
	round  uint32
	typ    chain.VoteType
}

func phaseOf(lm laneMessage) votePhase {
	v := lm.msg.Vote
	return votePhase{lane: v.Lane, height: v.Height, round: v.Round, typ: v.Type}
}

// voteGather holds votes until their phase has gathered the quorum the
// engine needs (see above). It is not safe for concurrent use: readVotes
// owns it.
type voteGather struct {
	// need is the number of other validators' votes of a phase of lane
	// the engine needs to act on it; 0 when not known.
	need func(lane chain.Lane) int
	// tip is the lane's last committed height (phases at or below it are
	// over).
	tip  func(lane chain.Lane) uint64
	hold time.Duration

	released map[votePhase]int // votes of each phase handed on
	held     []laneMessage
	heldKeys map[chain.Hash]struct{}
	since    time.Time // when the oldest held vote came
}

func newVoteGather(need func(chain.Lane) int, tip func(chain.Lane) uint64, hold time.Duration) *voteGather {
	return &voteGather{
		need: need, tip: tip, hold: hold,
		released: make(map[votePhase]int),
		heldKeys: make(map[chain.Hash]struct{}),
	}
}

// voteGather forgets the phases of committed heights once it remembers
// pruneGatherPhases of them, and all once it remembers maxGatherPhases:
// votes reach it before their signatures are checked, so a peer could name
// any number of phases (the counts then start again, and their votes wait
// at most voteGatherHold).
const (
	pruneGatherPhases = 256
	maxGatherPhases   = 4096
)

// add takes votes (fresh: none the engine holds) that came at now and
// returns those to check now, in the order they came; the rest are held.
// The slice returned is the caller's.
func (g *voteGather) add(now time.Time, votes []laneMessage) []laneMessage {
	for _, lm := range votes {
		if _, dup := g.heldKeys[lm.key]; dup {
			continue
		}
		if len(g.held) == 0 {
			g.since = now
		}
		g.heldKeys[lm.key] = struct{}{}
		g.held = append(g.held, lm)
	}
	if len(g.held) == 0 || !g.due(now) {
		return nil
	}
	return g.release()
}

// expire releases what is held if the oldest has waited hold.
func (g *voteGather) expire(now time.Time) []laneMessage {
	if len(g.held) == 0 || now.Sub(g.since) < g.hold {
		return nil
	}
	return g.release()
}

// deadline is when what is held must go, if anything is.
func (g *voteGather) deadline() (time.Time, bool) {
	if len(g.held) == 0 {
		return time.Time{}, false
	}
	return g.since.Add(g.hold), true
}

// due reports whether the held votes go now: some phase among them has
// gathered what the engine needs (or needs too few to wait for), a batch is
// full, or the oldest has waited long enough.
func (g *voteGather) due(now time.Time) bool {
	if len(g.held) >= maxVoteBatch || now.Sub(g.since) >= g.hold {
		return true
	}
	counts := make(map[votePhase]int, 2)
	for _, lm := range g.held {
		p := phaseOf(lm)
		need := g.need(p.lane)
		if need < voteGatherMin {
			return true
		}
		counts[p]++
		if g.released[p]+counts[p] >= need {
			return true
		}
	}
	return false
}

func (g *voteGather) release() []laneMessage {
	out := g.held
	g.held = nil
	clear(g.heldKeys)
	if len(g.released) >= pruneGatherPhases {
		g.prune()
	}
	if len(g.released) >= maxGatherPhases {
		clear(g.released)
	}
	for _, lm := range out {
		g.released[phaseOf(lm)]++
	}
	return out
}

// prune forgets the phases of heights already committed.
func (g *voteGather) prune() {
	tips := map[chain.Lane]uint64{chain.LaneData: g.tip(chain.LaneData), chain.LaneTx: g.tip(chain.LaneTx)}
	for p := range g.released {
		if p.height <= tips[p.lane] {
			delete(g.released, p)
		}
	}
}
