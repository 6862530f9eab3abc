package consensus

import "github.com/waterchain/waterchain/chain"

// voteSet holds the votes of one type in one round, one per validator: the
// first one counts, a different later one is equivocation.
type voteSet struct {
	votes map[chain.PubKey]*chain.Vote
	count map[chain.Hash]int
	total int
}

func newVoteSet() voteSet {
	return voteSet{votes: make(map[chain.PubKey]*chain.Vote), count: make(map[chain.Hash]int)}
}

// add counts v unless its validator already voted; then it returns the
// earlier vote.
func (s *voteSet) add(v *chain.Vote) (prior *chain.Vote, added bool) {
	if p, ok := s.votes[v.Validator]; ok {
		return p, false
	}
	s.votes[v.Validator] = v
	s.count[v.BlockHash]++
	s.total++
	return nil, true
}

// votesFor returns the votes for hash, in no particular order.
func (s *voteSet) votesFor(hash chain.Hash) []*chain.Vote {
	out := make([]*chain.Vote, 0, s.count[hash])
	for _, v := range s.votes {
		if v.BlockHash == hash {
			out = append(out, v)
		}
	}
	return out
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
