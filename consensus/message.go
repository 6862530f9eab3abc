package consensus

import (
	"fmt"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// Step is the step of a round, and the step a signed message belongs to:
// a proposal is signed in the propose step, votes in theirs. Steps order a
// validator's signatures within a round.
type Step uint8

const (
	StepPropose   Step = 1
	StepPrevote   Step = 2
	StepPrecommit Step = 3
)

func (s Step) String() string {
	switch s {
	case StepPropose:
		return "propose"
	case StepPrevote:
		return "prevote"
	case StepPrecommit:
		return "precommit"
	}
	return fmt.Sprintf("step(%d)", uint8(s))
}

func stepOfVote(t chain.VoteType) Step {
	if t == chain.Prevote {
		return StepPrevote
	}
	return StepPrecommit
}

// Message is one consensus message: exactly one of Proposal and Vote is
// set. It is what Step takes in and what Ready.Messages gives out.
type Message struct {
	Proposal *chain.Proposal
	Vote     *chain.Vote
}

// Height is the message's height, 0 when neither field is set.
func (m Message) Height() uint64 {
	switch {
	case m.Proposal != nil:
		return m.Proposal.Height
	case m.Vote != nil:
		return m.Vote.Height
	}
	return 0
}

// Round is the message's round.
func (m Message) Round() uint32 {
	switch {
	case m.Proposal != nil:
		return m.Proposal.Round
	case m.Vote != nil:
		return m.Vote.Round
	}
	return 0
}

func (m Message) String() string {
	switch {
	case m.Proposal != nil && m.Proposal.Block != nil:
		p := m.Proposal
		return fmt.Sprintf("proposal %s/%d/%d %s pol %d", p.Lane, p.Height, p.Round, p.Block.Hash().Short(), p.POLRound)
	case m.Vote != nil:
		return m.Vote.String()
	}
	return "empty message"
}

// TimeoutKind names the three round timeouts of Algorithm 1.
type TimeoutKind uint8

const (
	TimeoutPropose   TimeoutKind = 1
	TimeoutPrevote   TimeoutKind = 2
	TimeoutPrecommit TimeoutKind = 3
)

func (k TimeoutKind) String() string {
	switch k {
	case TimeoutPropose:
		return "propose"
	case TimeoutPrevote:
		return "prevote"
	case TimeoutPrecommit:
		return "precommit"
	}
	return fmt.Sprintf("timeout(%d)", uint8(k))
}

// Timer asks the driver to call Engine.Timeout(t) once Duration has passed.
// Timers are never cancelled: an expiry the engine no longer needs is
// ignored, so the driver may keep every timer it was given.
type Timer struct {
	Kind     TimeoutKind
	Height   uint64
	Round    uint32
	Duration time.Duration
}

func (t Timer) String() string {
	return fmt.Sprintf("timeout %s %d/%d after %s", t.Kind, t.Height, t.Round, t.Duration)
}

// ProposeRequest asks the driver for a new block to propose at Height and
// Round; the driver answers with Engine.Propose. The engine asks only when
// it has no valid block to re-propose: a re-proposal (Algorithm 1, line 16)
// must carry the very block that holds the proof of lock, so the engine
// makes it without the driver.
type ProposeRequest struct {
	Height uint64
	Round  uint32
}

// Ready is the engine's output, drained by Engine.Ready. The driver handles
// the fields in any order:
//
//   - Messages: broadcast each. They are signed and already durably
//     recorded in the WAL, so sending them is always safe, and losing them
//     is too (Rebroadcast sends them again).
//   - Timers: set each; call Engine.Timeout(t) when it expires.
//   - Validate: check each block's contents against the state (entries,
//     signatures, state root, anchor, time) and answer with
//     Engine.BlockValidated(hash, ok), possibly much later.
//   - Propose: build a block for that height and round and pass it to
//     Engine.Propose.
//   - Commit: the block of the engine's height is final; Commit.Cert is its
//     commit certificate. Store it, then call Engine.Start(height+1).
//   - Evidence: equivocations seen (each ValidateBasic-clean and signed by
//     the offender); gossip them and submit them to the tx chain.
type Ready struct {
	Messages []Message
	Timers   []Timer
	Validate []*chain.Block
	Propose  *ProposeRequest
	Commit   *chain.Block
	Evidence []*chain.Evidence
}

// Empty reports whether r asks nothing of the driver.
func (r *Ready) Empty() bool {
	return len(r.Messages) == 0 && len(r.Timers) == 0 && len(r.Validate) == 0 &&
		r.Propose == nil && r.Commit == nil && len(r.Evidence) == 0
}
