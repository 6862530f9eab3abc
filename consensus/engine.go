package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/waterchain/waterchain/chain"
)

// Engine runs Tendermint consensus (Buchman, Kwon, Milosevic 2018,
// Algorithm 1) for one lane, one height at a time. It is a pure state
// machine: the driver feeds it inputs (Start, Step, Timeout,
// BlockValidated, Propose, Rebroadcast) and drains its outputs with Ready.
// It starts no goroutines, reads no clock and does no I/O but through its
// WAL. It is not safe for concurrent use: one goroutine drives it.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	self   chain.PubKey // zero for an observer
	halted error

	// WAL records not yet consumed by a Start: replayed when their height
	// starts.
	replay     []*Record
	lastSigned *Signed

	started bool
	height  uint64
	vs      *chain.ValidatorSet
	quorum  int
	faulty  int // f

	round   uint32
	step    Step
	decided bool

	lockedRound int64 // -1: none
	lockedBlock *chain.Block
	lockedHash  chain.Hash
	validRound  int64 // -1: none
	validBlock  *chain.Block

	rounds         map[uint32]*roundState
	blocks         map[chain.Hash]*blockInfo
	decisionRounds []uint32 // rounds with a quorum of precommits for a block
	highest        map[chain.PubKey]uint32
	highestDirty   bool
	signed         map[signKey]Message
	pendingPropose *ProposeRequest
	evidenceSeen   map[chain.Hash]bool

	future    []Message
	futureKey map[bufferKey]bool
	perSender map[chain.PubKey]int

	ready Ready
}

// NewEngine checks cfg, reads the WAL's records and returns an engine
// waiting for Start. Records for another lane fail it.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Engine{cfg: cfg, log: cfg.Logger.With("lane", cfg.Lane.String())}
	if cfg.Key != nil {
		e.self = cfg.Key.Public()
		recs, err := cfg.WAL.Records()
		if err != nil {
			return nil, fmt.Errorf("consensus: read WAL: %w", err)
		}
		for i, r := range recs {
			if err := r.Validate(); err != nil {
				return nil, fmt.Errorf("consensus: WAL record %d: %w", i, err)
			}
			pos := r.Position()
			if pos.Lane != cfg.Lane {
				return nil, fmt.Errorf("%w: WAL record %d is for lane %s, engine runs %s: give each lane its own WAL",
					ErrBadConfig, i, pos.Lane, cfg.Lane)
			}
			if r.Proposal != nil && r.Proposal.Block.Header.Proposer != e.self && r.Proposal.POLRound < 0 {
				return nil, fmt.Errorf("%w: WAL record %d is a proposal by %s, engine key is %s: the WAL belongs to another validator",
					ErrBadConfig, i, r.Proposal.Block.Header.Proposer.Short(), e.self.Short())
			}
			if r.Vote != nil && r.Vote.Validator != e.self {
				return nil, fmt.Errorf("%w: WAL record %d is a vote by %s, engine key is %s: the WAL belongs to another validator",
					ErrBadConfig, i, r.Vote.Validator.Short(), e.self.Short())
			}
			e.lastSigned = &pos
		}
		e.replay = recs
	}
	return e, nil
}

// Ready returns the outputs gathered since the last call and forgets them.
func (e *Engine) Ready() Ready {
	r := e.ready
	e.ready = Ready{}
	return r
}

// HasReady reports whether Ready has anything.
func (e *Engine) HasReady() bool { return !e.ready.Empty() }

// Status is where an engine is, for logs, metrics and the status API.
type Status struct {
	Height      uint64 // being decided; 0 before the first Start
	Round       uint32
	Step        Step
	Decided     bool  // the height has its block; waiting for Start(Height+1)
	LockedRound int64 // -1: not locked
	ValidRound  int64 // -1: no valid block
}

// Status returns where the engine is.
func (e *Engine) Status() Status {
	return Status{Height: e.height, Round: e.round, Step: e.step, Decided: e.decided, LockedRound: e.lockedRound, ValidRound: e.validRound}
}

// Height is the height being decided (0 before the first Start).
func (e *Engine) Height() uint64 { return e.height }

// Round is the current round.
func (e *Engine) Round() uint32 { return e.round }

// Holds reports whether the engine already took m at its current height:
// a vote counted in its round's tally, a proposal taken as its round's
// proposal (the very signature in both cases). Stepping m again would be
// refused as a duplicate, so a driver may drop another copy of a held
// message before verifying it (a rebroadcast or relay with new gossip
// bytes). Messages buffered for a later height, too far ahead to be
// stored, or not counted (a conflicting vote for an unknown block) are not
// held: they must still be delivered. It changes nothing.
func (e *Engine) Holds(m Message) bool {
	if !e.started {
		return false
	}
	switch {
	case m.Vote != nil && m.Proposal == nil:
		v := m.Vote
		if v.Lane != e.cfg.Lane || v.Height != e.height {
			return false
		}
		rs := e.rounds[v.Round]
		if rs == nil {
			return false
		}
		set := &rs.prevotes
		if v.Type == chain.Precommit {
			set = &rs.precommits
		} else if v.Type != chain.Prevote {
			return false
		}
		held := set.byHash[v.BlockHash][v.Validator]
		return held != nil && bytes.Equal(held.Sig, v.Sig)
	case m.Proposal != nil && m.Vote == nil:
		p := m.Proposal
		if p.Block == nil || p.Lane != e.cfg.Lane || p.Height != e.height {
			return false
		}
		rs := e.rounds[p.Round]
		if rs == nil || rs.proposal == nil {
			return false
		}
		return rs.proposalHash == p.Block.Hash() && rs.proposal.POLRound == p.POLRound && bytes.Equal(rs.proposal.Sig, p.Sig)
	}
	return false
}

// ValidatorSet is the set of the current height (nil before Start).
func (e *Engine) ValidatorSet() *chain.ValidatorSet { return e.vs }

// Halted returns the error that stopped the engine, or nil.
func (e *Engine) Halted() error { return e.halted }

// LastSigned is the position of the engine's last signature, if any.
func (e *Engine) LastSigned() (Signed, bool) {
	if e.lastSigned == nil {
		return Signed{}, false
	}
	return *e.lastSigned, true
}

// Start begins height, which must be above the current one: at boot, the
// height after the last block in the store; afterwards, after storing each
// Ready.Commit (or a block with a verified certificate from sync). If the
// WAL holds signatures for height, the engine resumes where it stopped
// (round, step, lock) and sends those messages again instead of signing
// anew.
func (e *Engine) Start(height uint64) error {
	if e.halted != nil {
		return e.halted
	}
	if height == 0 {
		return fmt.Errorf("%w: height 0 is genesis", ErrBadHeight)
	}
	if e.started && height <= e.height {
		return fmt.Errorf("%w: %d, engine is at %d", ErrBadHeight, height, e.height)
	}
	vs, err := e.cfg.ValidatorSetFor(height)
	if err != nil {
		return fmt.Errorf("%w %d: %w", ErrNoValidatorSet, height, err)
	}
	if vs == nil {
		return fmt.Errorf("%w %d: ValidatorSetFor returned nil", ErrNoValidatorSet, height)
	}
	e.resetHeight(height, vs)
	if e.cfg.Key != nil {
		if err := e.cfg.WAL.Prune(height); err != nil {
			e.log.Warn("cannot prune the WAL", "height", height, "err", err)
		}
	}
	if !e.restore() {
		e.startRound(0)
	}
	e.replayBuffered()
	e.evaluate()
	return e.halted
}

func (e *Engine) resetHeight(height uint64, vs *chain.ValidatorSet) {
	e.started = true
	e.height = height
	e.vs = vs
	e.quorum = vs.Quorum()
	e.faulty = vs.MaxFaulty()
	e.round = 0
	e.step = StepPropose
	e.decided = false
	e.lockedRound, e.lockedBlock, e.lockedHash = -1, nil, chain.Hash{}
	e.validRound, e.validBlock = -1, nil
	e.rounds = make(map[uint32]*roundState)
	e.blocks = make(map[chain.Hash]*blockInfo)
	e.decisionRounds = nil
	e.highest = make(map[chain.PubKey]uint32)
	e.highestDirty = false
	e.signed = make(map[signKey]Message)
	e.pendingPropose = nil
	e.evidenceSeen = make(map[chain.Hash]bool)
	if e.self != (chain.PubKey{}) && !vs.Has(e.self) {
		e.log.Info("not in the validator set of this height: following without voting", "height", height, "set", vs.Hash().Short())
	}
}

// restore resumes the height from the engine's own WAL records of it.
func (e *Engine) restore() bool {
	var mine, later []*Record
	for _, r := range e.replay {
		switch h := r.Position().Height; {
		case h == e.height:
			mine = append(mine, r)
		case h > e.height:
			later = append(later, r)
		}
	}
	e.replay = later
	if len(later) > 0 {
		e.log.Warn("WAL holds signatures above the start height: the block store is behind; the engine will not sign at or below them",
			"height", e.height, "last_signed", e.lastSigned.String())
	}
	if len(mine) == 0 {
		return false
	}
	var at Signed
	for _, r := range mine {
		pos := r.Position()
		if pos.compare(at) > 0 {
			at = pos
		}
		rs := e.roundState(pos.Round)
		switch {
		case r.Proposal != nil:
			e.signed[signKey{pos.Round, StepPropose}] = Message{Proposal: r.Proposal}
			rs.proposal, rs.proposalHash = r.Proposal, pos.BlockHash
			e.noteBlock(r.Proposal.Block, pos.BlockHash, validityValid)
			for _, pv := range r.POL {
				e.addVote(pv)
			}
		default:
			v := r.Vote
			e.signed[signKey{pos.Round, pos.Step}] = Message{Vote: v}
			e.addVote(v)
			for _, pv := range r.POL {
				e.addVote(pv)
			}
			if r.Block != nil && int64(v.Round) >= e.lockedRound {
				e.lockedRound, e.lockedBlock, e.lockedHash = int64(v.Round), r.Block, v.BlockHash
				e.noteBlock(r.Block, v.BlockHash, validityValid)
			}
		}
	}
	e.validRound, e.validBlock = e.lockedRound, e.lockedBlock
	e.round, e.step = at.Round, at.Step
	if at.Step == StepPropose {
		e.setTimer(TimeoutPropose, at.Round)
	}
	e.log.Info("resumed from the WAL", "height", e.height, "round", at.Round, "step", at.Step.String(), "locked_round", e.lockedRound)
	e.Rebroadcast()
	return true
}

// Rebroadcast puts the engine's own messages of its current round back in
// Ready.Messages, its votes of the round before, and the other validators'
// votes of its current round that it holds. Gossip loses messages and a
// peer may have restarted, so the driver calls it now and then (every few
// seconds, or on meeting a peer); it signs nothing new.
//
// Algorithm 1's liveness assumes that a message one correct validator
// receives, every correct one eventually receives; gossip drops messages
// and sends each once. So a validator behind may wait for good: in a
// round for precommits it lost, which the validators that moved on never
// send again, or without the f+1 votes of a later round that made others
// skip to it (some of them a silent Byzantine validator's). The previous
// round's own votes and the relayed votes of the current round give it
// both. The simulator's lock adversary stalled heights in these two ways.
func (e *Engine) Rebroadcast() {
	if !e.started || e.halted != nil {
		return
	}
	if e.round > 0 {
		for _, s := range []Step{StepPrevote, StepPrecommit} {
			if m, ok := e.signed[signKey{e.round - 1, s}]; ok {
				e.ready.Messages = append(e.ready.Messages, m)
			}
		}
	}
	for _, s := range []Step{StepPropose, StepPrevote, StepPrecommit} {
		if m, ok := e.signed[signKey{e.round, s}]; ok {
			e.ready.Messages = append(e.ready.Messages, m)
			if m.Proposal != nil {
				e.relayPOL(m.Proposal)
			}
		}
	}
	if rs := e.rounds[e.round]; rs != nil {
		for _, set := range []*voteSet{&rs.prevotes, &rs.precommits} {
			for _, v := range e.firstVotes(set) {
				if v.Validator != e.self {
					e.ready.Messages = append(e.ready.Messages, Message{Vote: v})
				}
			}
		}
	}
}

// firstVotes is each validator's first vote in set, in validator-set
// order.
func (e *Engine) firstVotes(set *voteSet) []*chain.Vote {
	return e.inSetOrder(slices.Collect(maps.Values(set.first)))
}

// inSetOrder sorts votes by their validator's place in the set, so that
// what the engine sends does not depend on map order.
func (e *Engine) inSetOrder(votes []*chain.Vote) []*chain.Vote {
	slices.SortFunc(votes, func(a, b *chain.Vote) int { return e.vs.Index(a.Validator) - e.vs.Index(b.Validator) })
	return votes
}

// relayPOL sends, after a re-proposal, the prevotes of its proof-of-lock
// round that justify it (line 28 needs them), as CometBFT's reactor does:
// peers that lost them, or restarted since, could not prevote for the
// block otherwise, and a height could stall with validators locked in
// different rounds.
func (e *Engine) relayPOL(p *chain.Proposal) {
	if p.POLRound < 0 {
		return
	}
	for _, v := range e.polVotes(uint32(p.POLRound), e.rounds[p.Round].proposalHash) {
		e.ready.Messages = append(e.ready.Messages, Message{Vote: v})
	}
}

// polVotes are the prevotes for hash in round, in validator-set order.
func (e *Engine) polVotes(round uint32, hash chain.Hash) []*chain.Vote {
	rs := e.rounds[round]
	if rs == nil {
		return nil
	}
	return e.inSetOrder(rs.prevotes.votesFor(hash))
}

// Step takes a proposal or vote from the network. Vote signatures must
// already be verified (see Config.VerifyVoteSignatures); the engine checks
// everything else: ValidateBasic, lane, chain id, height, membership of the
// height's validator set, the round's proposer and its signature, the
// block's validator-set hash. It returns nil for a message it took or
// buffered, an error wrapping ErrStale for one it ignored, ErrInvalidMessage
// for a provably invalid one and ErrHalted once halted.
func (e *Engine) Step(m Message) error {
	if e.halted != nil {
		return e.halted
	}
	switch {
	case m.Proposal != nil && m.Vote == nil:
		return e.stepProposal(m.Proposal)
	case m.Vote != nil && m.Proposal == nil:
		return e.stepVote(m.Vote)
	}
	return fmt.Errorf("%w: want exactly one of proposal and vote", ErrInvalidMessage)
}

func (e *Engine) stepVote(v *chain.Vote) error {
	if err := v.ValidateBasic(); err != nil {
		return fmt.Errorf("%w: vote: %w", ErrInvalidMessage, err)
	}
	if v.Lane != e.cfg.Lane {
		return fmt.Errorf("%w: %s is for lane %s, engine runs %s", ErrInvalidMessage, v, v.Lane, e.cfg.Lane)
	}
	if !e.started || v.Height > e.height {
		return e.buffer(Message{Vote: v}, v.Validator, stepOfVote(v.Type))
	}
	if v.Height < e.height || e.decided {
		return fmt.Errorf("%w: %s, engine is at height %d", ErrStale, v, e.height)
	}
	if !e.vs.Has(v.Validator) {
		return fmt.Errorf("%w: %s: %s is not in validator set %s of height %d",
			ErrInvalidMessage, v, v.Validator.Short(), e.vs.Hash().Short(), v.Height)
	}
	if e.cfg.VerifyVoteSignatures {
		if err := v.VerifySignature(e.cfg.ChainID); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidMessage, v, err)
		}
	}
	e.noteRound(v.Validator, v.Round)
	if v.Round > e.round && v.Round-e.round > e.cfg.RoundWindow {
		e.evaluate()
		return fmt.Errorf("%w: %s is more than %d rounds ahead of round %d", ErrStale, v, e.cfg.RoundWindow, e.round)
	}
	err := e.addVote(v)
	e.evaluate()
	return err
}

// addVote counts v, and turns it into evidence when its validator voted
// differently in the same round and step.
func (e *Engine) addVote(v *chain.Vote) error {
	rs := e.roundState(v.Round)
	set := &rs.prevotes
	if v.Type == chain.Precommit {
		set = &rs.precommits
	}
	countConflict := v.BlockHash.IsZero() || e.blocks[v.BlockHash] != nil
	prior, added := set.add(v, countConflict)
	if prior != nil && prior.BlockHash != v.BlockHash {
		e.reportEvidence(&chain.Evidence{VoteA: prior, VoteB: v})
	} else if !added {
		return fmt.Errorf("%w: duplicate %s", ErrStale, v)
	}
	if added && v.Type == chain.Precommit && !v.BlockHash.IsZero() && !rs.decisionNoted && set.count(v.BlockHash) >= e.quorum {
		rs.decisionNoted = true
		e.decisionRounds = append(e.decisionRounds, v.Round)
	}
	return nil
}

func (e *Engine) stepProposal(p *chain.Proposal) error {
	if p.Block == nil {
		return fmt.Errorf("%w: proposal without a block", ErrInvalidMessage)
	}
	if p.Lane != e.cfg.Lane {
		return fmt.Errorf("%w: proposal is for lane %s, engine runs %s", ErrInvalidMessage, p.Lane, e.cfg.Lane)
	}
	if !e.started || p.Height > e.height {
		if err := p.ValidateBasic(); err != nil {
			return fmt.Errorf("%w: proposal: %w", ErrInvalidMessage, err)
		}
		return e.buffer(Message{Proposal: p}, p.Block.Header.Proposer, StepPropose)
	}
	if p.Height < e.height || e.decided {
		return fmt.Errorf("%w: proposal %s/%d/%d, engine is at height %d", ErrStale, p.Lane, p.Height, p.Round, e.height)
	}
	if err := VerifyProposal(e.cfg.ChainID, e.vs, p); err != nil {
		return err
	}
	if p.Block.Cert != nil {
		q := *p
		q.Block = p.Block.WithCert(nil)
		p = &q
	}
	e.noteRound(e.vs.Proposer(p.Height, p.Round), p.Round)
	if p.Round > e.round && p.Round-e.round > e.cfg.RoundWindow {
		e.evaluate()
		return fmt.Errorf("%w: proposal for round %d is more than %d rounds ahead of round %d", ErrStale, p.Round, e.cfg.RoundWindow, e.round)
	}
	rs := e.roundState(p.Round)
	hash := p.Block.Hash()
	if prior := rs.proposal; prior != nil {
		if rs.proposalHash == hash {
			return fmt.Errorf("%w: duplicate proposal %s/%d/%d", ErrStale, p.Lane, p.Height, p.Round)
		}
		a, b := ProposalRef(e.vs, prior), ProposalRef(e.vs, p)
		e.reportEvidence(&chain.Evidence{ProposalA: &a, ProposalB: &b})
		return nil
	}
	rs.proposal, rs.proposalHash = p, hash
	e.noteBlock(p.Block, hash, validityPending)
	e.evaluate()
	return nil
}

// noteBlock remembers a block of the height; a new block the engine did
// not vouch for itself goes to the driver for validation.
func (e *Engine) noteBlock(b *chain.Block, hash chain.Hash, status validity) {
	if info, ok := e.blocks[hash]; ok {
		if status == validityValid {
			info.status = validityValid
		}
		return
	}
	e.blocks[hash] = &blockInfo{block: b, status: status}
	if status == validityPending {
		e.ready.Validate = append(e.ready.Validate, b)
	}
}

// noteRound records the highest round a validator was seen in, for the
// round skip of line 55.
func (e *Engine) noteRound(val chain.PubKey, round uint32) {
	if round > e.highest[val] {
		e.highest[val] = round
		e.highestDirty = true
	}
}

func (e *Engine) roundState(r uint32) *roundState {
	rs, ok := e.rounds[r]
	if !ok {
		rs = newRoundState()
		e.rounds[r] = rs
	}
	return rs
}

// BlockValidated is the driver's verdict on a block from Ready.Validate.
// Verdicts for blocks the engine no longer needs are ignored.
func (e *Engine) BlockValidated(hash chain.Hash, ok bool) error {
	if e.halted != nil {
		return e.halted
	}
	info := e.blocks[hash]
	if info == nil || info.status != validityPending {
		return nil
	}
	info.status = validityInvalid
	if ok {
		info.status = validityValid
	} else {
		e.log.Warn("proposed block is invalid", "height", e.height, "block", hash.Short())
	}
	e.evaluate()
	return e.halted
}

// Timeout is the expiry of a timer from Ready.Timers. Expiries of rounds
// or heights the engine has left are ignored.
func (e *Engine) Timeout(t Timer) error {
	if e.halted != nil {
		return e.halted
	}
	if !e.started || e.decided || t.Height != e.height || t.Round != e.round {
		return nil
	}
	switch t.Kind {
	case TimeoutPropose: // line 57
		if e.step == StepPropose {
			if e.validationPending() {
				// The proposal came in time and only its validation by
				// the driver is late: the paper's valid(v) is instant, so
				// a proposal received before the timeout is prevoted
				// before it. The wait is extended once, by the same
				// timeout, so that a block that validates slowly (a
				// loaded node, an anchor about to commit) still gets a
				// prevote; a driver that never answers still costs a
				// bounded wait. Timeouts bear on liveness only.
				e.rounds[e.round].proposeExtended = true
				e.setTimer(TimeoutPropose, e.round)
				break
			}
			e.castVote(chain.Prevote, chain.Hash{})
			e.step = StepPrevote
		}
	case TimeoutPrevote: // line 61
		if e.step == StepPrevote {
			e.castVote(chain.Precommit, chain.Hash{})
			e.step = StepPrecommit
		}
	case TimeoutPrecommit: // line 65
		if e.round < chain.MaxRound {
			e.startRound(e.round + 1)
		}
	default:
		return fmt.Errorf("%w: unknown timeout kind %d", ErrBadConfig, t.Kind)
	}
	e.evaluate()
	return e.halted
}

// validationPending reports whether the current round's proposal has
// arrived, waits only for the driver's verdict on its block, and the
// propose timeout was not yet extended for it.
func (e *Engine) validationPending() bool {
	rs := e.rounds[e.round]
	if rs == nil || rs.proposal == nil || rs.proposeExtended || e.cfg.nilAtFirstTimeout {
		return false
	}
	info := e.blocks[rs.proposalHash]
	return info != nil && info.status == validityPending
}

// Propose answers Ready.Propose with a block for that height and round.
// The block must be for the engine's chain, lane and height, name the
// height's validator set and this validator as proposer. An answer that
// comes after the engine left the propose step is ignored (ErrStale).
func (e *Engine) Propose(block *chain.Block) error {
	if e.halted != nil {
		return e.halted
	}
	req := e.pendingPropose
	if req == nil {
		return fmt.Errorf("%w: no block was asked for", ErrStale)
	}
	if block == nil {
		return fmt.Errorf("%w: nil block", ErrBadBlock)
	}
	if block.Header.Height < req.Height {
		return fmt.Errorf("%w: block for height %d, engine is at %d", ErrStale, block.Header.Height, req.Height)
	}
	if err := block.ValidateBasic(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadBlock, err)
	}
	h := &block.Header
	switch {
	case h.ChainID != e.cfg.ChainID:
		return fmt.Errorf("%w: chain id %q, engine runs %q", ErrBadBlock, h.ChainID, e.cfg.ChainID)
	case h.Lane != e.cfg.Lane:
		return fmt.Errorf("%w: lane %s, engine runs %s", ErrBadBlock, h.Lane, e.cfg.Lane)
	case h.Height != req.Height:
		return fmt.Errorf("%w: height %d, asked for %d", ErrBadBlock, h.Height, req.Height)
	case h.ValidatorsHash != e.vs.Hash():
		return fmt.Errorf("%w: validator set %s, height %d's set is %s", ErrBadBlock, h.ValidatorsHash.Short(), h.Height, e.vs.Hash().Short())
	case h.Proposer != e.self:
		return fmt.Errorf("%w: proposer %s, this validator is %s", ErrBadBlock, h.Proposer.Short(), e.self.Short())
	}
	if e.decided || e.height != req.Height || e.round != req.Round || e.step != StepPropose {
		e.pendingPropose = nil
		return fmt.Errorf("%w: block for %d/%d came after the propose step", ErrStale, req.Height, req.Round)
	}
	e.pendingPropose = nil
	e.propose(block.WithCert(nil), -1)
	e.evaluate()
	return e.halted
}

// startRound is StartRound of Algorithm 1 (line 11).
func (e *Engine) startRound(r uint32) {
	e.round = r
	e.step = StepPropose
	e.pendingPropose = nil
	e.roundState(r)
	if e.debug() {
		e.log.Debug("round", "height", e.height, "round", r, "proposer", e.vs.Proposer(e.height, r).Short())
	}
	if e.self != (chain.PubKey{}) && e.vs.Proposer(e.height, r) == e.self {
		if e.validBlock != nil {
			e.propose(e.validBlock, int32(e.validRound))
		} else {
			e.pendingPropose = &ProposeRequest{Height: e.height, Round: r}
			e.ready.Propose = e.pendingPropose
		}
	}
	// Every validator, the proposer too, waits for the proposal only so
	// long: a proposer whose driver never answers then prevotes nil.
	e.setTimer(TimeoutPropose, r)
}

func (e *Engine) setTimer(kind TimeoutKind, r uint32) {
	e.ready.Timers = append(e.ready.Timers, Timer{Kind: kind, Height: e.height, Round: r, Duration: e.cfg.Timeouts.Duration(kind, r)})
}

// evaluate applies the rules of Algorithm 1 until none applies.
func (e *Engine) evaluate() {
	for e.halted == nil && e.started && !e.decided && e.applyRule() {
	}
}

// lockBreak names a lock rule of Algorithm 1 that a test breaks on purpose
// through Config.breakLock, so that TestSimulatorCatchesBrokenLocks
// (mutation_test.go) can show that the simulator's lock-targeting
// adversary notices. Its zero value, the only one outside this package's
// tests, breaks nothing.
type lockBreak uint8

const (
	breakNone      lockBreak = iota
	ignoreLocks              // line 22: prevote a fresh proposal whatever the lock
	ignorePOLRound           // line 28: take a proof of lock older than the lock
	skipLock                 // line 36: precommit a polka without locking on it
)

// applyRule applies the first rule of Algorithm 1 whose condition holds
// and reports whether one did. Each rule changes the state so that it does
// not hold again, so evaluate terminates.
func (e *Engine) applyRule() bool {
	if e.tryDecide() || e.trySkipRound() {
		return true
	}
	rs := e.roundState(e.round)
	if e.step == StepPropose && rs.proposal != nil {
		p, hash := rs.proposal, rs.proposalHash
		info := e.blocks[hash]
		if info.status != validityPending {
			if p.POLRound < 0 { // line 22
				target := chain.Hash{}
				if info.valid() && (e.lockedRound < 0 || e.lockedHash == hash || e.cfg.breakLock == ignoreLocks) {
					target = hash
				}
				e.castVote(chain.Prevote, target)
				e.step = StepPrevote
				return true
			}
			vr := uint32(p.POLRound)
			if pol := e.rounds[vr]; pol != nil && pol.prevotes.count(hash) >= e.quorum { // line 28
				target := chain.Hash{}
				if info.valid() && (e.lockedRound <= int64(vr) || e.lockedHash == hash || e.cfg.breakLock == ignorePOLRound) {
					target = hash
				}
				e.castVote(chain.Prevote, target)
				e.step = StepPrevote
				return true
			}
		}
	}
	if e.step == StepPrevote && !rs.prevoteTimerSet && rs.prevotes.total >= e.quorum { // line 34
		rs.prevoteTimerSet = true
		e.setTimer(TimeoutPrevote, e.round)
		return true
	}
	if e.step >= StepPrevote && !rs.lockRuleFired && rs.proposal != nil { // line 36
		hash := rs.proposalHash
		if info := e.blocks[hash]; info.valid() && rs.prevotes.count(hash) >= e.quorum {
			rs.lockRuleFired = true
			if e.step == StepPrevote {
				if e.cfg.breakLock != skipLock {
					e.lockedRound, e.lockedBlock, e.lockedHash = int64(e.round), info.block, hash
				}
				e.castVote(chain.Precommit, hash)
				e.step = StepPrecommit
			}
			e.validRound, e.validBlock = int64(e.round), info.block
			return true
		}
	}
	if e.step == StepPrevote && rs.prevotes.count(chain.Hash{}) >= e.quorum { // line 44
		e.castVote(chain.Precommit, chain.Hash{})
		e.step = StepPrecommit
		return true
	}
	if !rs.precommitTimerSet && rs.precommits.total >= e.quorum { // line 47
		rs.precommitTimerSet = true
		e.setTimer(TimeoutPrecommit, e.round)
		return true
	}
	return false
}

// tryDecide is line 49: a quorum of precommits in any round for a block
// the engine has and found valid. The block may come from any proposal of
// the height, not only that round's: the certificate pins it by hash.
func (e *Engine) tryDecide() bool {
	for _, r := range e.decisionRounds {
		rs := e.rounds[r]
		hash, ok := rs.precommits.quorumBlock(e.quorum)
		info := e.blocks[hash]
		if !ok || !info.valid() {
			continue
		}
		cert, err := chain.NewCertificate(e.vs, rs.precommits.votesFor(hash))
		if err != nil {
			e.log.Error("cannot build a certificate from a quorum of precommits", "height", e.height, "round", r, "err", err)
			continue
		}
		e.decided = true
		e.ready.Commit = info.block.WithCert(cert)
		e.log.Info("committed", "height", e.height, "round", r, "block", hash.Short())
		return true
	}
	return false
}

// trySkipRound is line 55: messages from f+1 validators in rounds above
// the engine's own prove that a correct validator got there; go to the
// highest round that f+1 of them reached.
func (e *Engine) trySkipRound() bool {
	if !e.highestDirty {
		return false
	}
	e.highestDirty = false
	var above []uint32
	for val, r := range e.highest {
		if r > e.round && val != e.self {
			above = append(above, r)
		}
	}
	if len(above) <= e.faulty {
		return false
	}
	slices.Sort(above)
	target := above[len(above)-1-e.faulty]
	e.startRound(target)
	e.highestDirty = true
	return true
}

// castVote signs, records and sends a vote of the current round, unless
// the engine is an observer or the signature would conflict with one made
// before. The step changes either way: the algorithm moves on.
func (e *Engine) castVote(typ chain.VoteType, hash chain.Hash) {
	if e.self == (chain.PubKey{}) || !e.vs.Has(e.self) {
		return
	}
	step := stepOfVote(typ)
	key := signKey{e.round, step}
	if prior, ok := e.signed[key]; ok {
		if prior.Vote.BlockHash == hash {
			e.ready.Messages = append(e.ready.Messages, prior)
		} else {
			e.log.Error("not signing a vote that conflicts with an earlier one", "height", e.height, "round", e.round, "step", step.String(), "signed", prior.String())
		}
		return
	}
	pos := Signed{Lane: e.cfg.Lane, Height: e.height, Round: e.round, Step: step, BlockHash: hash}
	if !e.maySign(pos) {
		return
	}
	v := &chain.Vote{Type: typ, Lane: e.cfg.Lane, Height: e.height, Round: e.round, BlockHash: hash, Validator: e.self}
	v.Sign(e.cfg.ChainID, e.cfg.Key)
	rec := &Record{Vote: v}
	if typ == chain.Precommit && !hash.IsZero() {
		rec.Block = e.blocks[hash].block
		rec.POL = e.polVotes(e.round, hash)
	}
	if !e.persist(rec, pos) {
		return
	}
	m := Message{Vote: v}
	e.signed[key] = m
	e.ready.Messages = append(e.ready.Messages, m)
	e.addVote(v)
}

// propose signs, records and sends a proposal of block in the current
// round.
func (e *Engine) propose(block *chain.Block, polRound int32) {
	key := signKey{e.round, StepPropose}
	hash := block.Hash()
	if prior, ok := e.signed[key]; ok {
		if prior.Proposal.Block.Hash() == hash {
			e.ready.Messages = append(e.ready.Messages, prior)
		} else {
			e.log.Error("not signing a proposal that conflicts with an earlier one", "height", e.height, "round", e.round, "signed", prior.String())
		}
		return
	}
	pos := Signed{Lane: e.cfg.Lane, Height: e.height, Round: e.round, Step: StepPropose, BlockHash: hash}
	if !e.maySign(pos) {
		return
	}
	p := signProposal(e.cfg.ChainID, e.cfg.Key, block, e.round, polRound)
	rec := &Record{Proposal: p}
	if polRound >= 0 {
		rec.POL = e.polVotes(uint32(polRound), hash)
	}
	if !e.persist(rec, pos) {
		return
	}
	m := Message{Proposal: p}
	e.signed[key] = m
	e.ready.Messages = append(e.ready.Messages, m)
	rs := e.roundState(e.round)
	if rs.proposal == nil {
		rs.proposal, rs.proposalHash = p, hash
	}
	e.noteBlock(block, hash, validityValid)
	e.relayPOL(p)
}

// maySign is the engine's own last-signed guard: it never signs at or
// before the position of its last signature (a store behind the WAL after
// a crash would otherwise have it sign the same height again).
func (e *Engine) maySign(pos Signed) bool {
	if e.lastSigned != nil && pos.compare(*e.lastSigned) <= 0 {
		e.log.Warn("not signing at or before the last signature", "want", pos.String(), "last_signed", e.lastSigned.String())
		return false
	}
	return true
}

// persist appends rec to the WAL; a failure halts the engine, since it can
// no longer prove to itself what it signed.
func (e *Engine) persist(rec *Record, pos Signed) bool {
	if err := e.cfg.WAL.Append(rec); err != nil {
		e.halted = fmt.Errorf("%w: recording %s: %w", ErrHalted, pos, err)
		e.log.Error("consensus halted: the WAL refused a signature", "err", err)
		return false
	}
	e.lastSigned = &pos
	return true
}

func (e *Engine) reportEvidence(ev *chain.Evidence) {
	id := ev.ID()
	if e.evidenceSeen[id] {
		return
	}
	e.evidenceSeen[id] = true
	e.ready.Evidence = append(e.ready.Evidence, ev)
	e.log.Warn("equivocation", "offender", ev.Offender().Short(), "height", e.height)
}

// buffer holds a message for a height the engine has not reached.
func (e *Engine) buffer(m Message, sender chain.PubKey, step Step) error {
	h := m.Height()
	if e.started && h-e.height > e.cfg.HeightWindow {
		return fmt.Errorf("%w: %s is more than %d heights ahead of %d", ErrStale, m, e.cfg.HeightWindow, e.height)
	}
	key := bufferKey{sender: sender, height: h, round: m.Round(), step: step}
	switch {
	case e.futureKey[key]:
		return fmt.Errorf("%w: %s already buffered", ErrStale, m)
	case len(e.future) >= e.cfg.MaxBuffered:
		return fmt.Errorf("%w: buffer of %d future messages is full", ErrStale, e.cfg.MaxBuffered)
	case e.perSender[sender] >= maxBufferedPerSender:
		return fmt.Errorf("%w: %s has %d future messages buffered", ErrStale, sender.Short(), maxBufferedPerSender)
	}
	if e.futureKey == nil {
		e.futureKey = make(map[bufferKey]bool)
		e.perSender = make(map[chain.PubKey]int)
	}
	e.futureKey[key] = true
	e.perSender[sender]++
	e.future = append(e.future, m)
	return nil
}

// replayBuffered steps the buffered messages of the new height and keeps
// those of later ones.
func (e *Engine) replayBuffered() {
	pending := e.future
	e.future, e.futureKey, e.perSender = nil, nil, nil
	for _, m := range pending {
		switch h := m.Height(); {
		case h == e.height:
			if err := e.Step(m); err != nil && !errors.Is(err, ErrStale) && e.debug() {
				e.log.Debug("buffered message rejected", "msg", m.String(), "err", err)
			}
		case h > e.height:
			var sender chain.PubKey
			step := StepPropose
			if m.Vote != nil {
				sender, step = m.Vote.Validator, stepOfVote(m.Vote.Type)
			} else {
				sender = m.Proposal.Block.Header.Proposer
			}
			_ = e.buffer(m, sender, step)
		}
	}
}

func (e *Engine) debug() bool { return e.log.Enabled(context.Background(), slog.LevelDebug) }
