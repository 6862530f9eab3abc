package consensus

import "github.com/waterchain/waterchain/chain"

// voteSet holds the votes of one type in one round. A validator's first
// vote counts towards "2f+1 of any"; each vote counts towards its own
// value, so an equivocator's votes count for each value it signed, as
// Algorithm 1 counts messages per value. (Otherwise a proof of lock that
// needed the equivocator's vote would be unverifiable at a node that saw
// the other vote first, and the height could stall.) The engine admits a
// conflicting vote only for nil or for a block known at the height, which
// bounds the memory an equivocator can take.
type voteSet struct {
	first  map[chain.PubKey]*chain.Vote
	byHash map[chain.Hash]map[chain.PubKey]*chain.Vote
	total  int // validators with a vote
}

func newVoteSet() voteSet {
	return voteSet{first: make(map[chain.PubKey]*chain.Vote), byHash: make(map[chain.Hash]map[chain.PubKey]*chain.Vote)}
}

// count is the number of validators that voted for hash.
func (s *voteSet) count(hash chain.Hash) int { return len(s.byHash[hash]) }

// add records v. It returns the validator's first vote when v is not its
// first, and whether v was counted: a repeat never is, a conflicting vote
// only with countConflict.
func (s *voteSet) add(v *chain.Vote, countConflict bool) (prior *chain.Vote, added bool) {
	if p, ok := s.byHash[v.BlockHash][v.Validator]; ok {
		return p, false
	}
	prior = s.first[v.Validator]
	if prior == nil {
		s.first[v.Validator] = v
		s.total++
	} else if !countConflict {
		return prior, false
	}
	m := s.byHash[v.BlockHash]
	if m == nil {
		m = make(map[chain.PubKey]*chain.Vote)
		s.byHash[v.BlockHash] = m
	}
	m[v.Validator] = v
	return prior, true
}

// votesFor returns the votes for hash, in no particular order.
func (s *voteSet) votesFor(hash chain.Hash) []*chain.Vote {
	out := make([]*chain.Vote, 0, len(s.byHash[hash]))
	for _, v := range s.byHash[hash] {
		out = append(out, v)
	}
	return out
}

// quorumBlock returns the block (not nil) with at least q votes; should
// more than f validators equivocate and two reach it, the lower hash, so
// that the choice is deterministic.
func (s *voteSet) quorumBlock(q int) (chain.Hash, bool) {
	var best chain.Hash
	found := false
	for h, m := range s.byHash {
		if !h.IsZero() && len(m) >= q && (!found || string(h[:]) < string(best[:])) {
			best, found = h, true
		}
	}
	return best, found
}

// roundState is what the engine knows of one round of its height.
type roundState struct {
	proposal     *chain.Proposal
	proposalHash chain.Hash
	prevotes     voteSet
	precommits   voteSet

	// "for the first time" flags of Algorithm 1.
	prevoteTimerSet   bool // line 34
	precommitTimerSet bool // line 47
	lockRuleFired     bool // line 36
	decisionNoted     bool // the round is in Engine.decisionRounds
	// proposeExtended: the propose timeout expired once while the
	// round's proposal was still being validated, and was set again
	// (Engine.Timeout, line 57).
	proposeExtended bool
}

func newRoundState() *roundState {
	return &roundState{prevotes: newVoteSet(), precommits: newVoteSet()}
}

// validity is what the driver said of a block.
type validity uint8

const (
	validityPending validity = iota
	validityValid
	validityInvalid
)

// blockInfo is a block proposed at the engine's height.
type blockInfo struct {
	block  *chain.Block
	status validity
}

func (b *blockInfo) valid() bool { return b != nil && b.status == validityValid }

// signKey names one of the engine's own signatures within its height.
type signKey struct {
	round uint32
	step  Step
}

// bufferKey dedupes the messages held for future heights.
type bufferKey struct {
	sender chain.PubKey
	height uint64
	round  uint32
	step   Step
}
