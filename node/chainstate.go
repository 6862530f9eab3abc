package node

import (
	"sync"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
)

// readingSource gives settlement the finalized readings up to an anchor.
type readingSource struct{ s *store.Store }

var _ state.ReadingSource = readingSource{}

func (r readingSource) ReadingsUpTo(device chain.PubKey, from, to chain.Time, maxDataHeight uint64, fn func(*chain.Reading) error) error {
	return r.s.ReadingsUpTo(device, from, to, maxDataHeight, fn)
}

func (r readingSource) DataBlockTime(height uint64) (chain.Time, error) {
	return r.s.DataBlockTime(height)
}

func toStoreChanges(cs []state.Change) []store.Change {
	out := make([]store.Change, len(cs))
	for i, c := range cs {
		out[i] = store.Change{Key: c.Key, Value: c.Value, Delete: c.Delete}
	}
	return out
}

// validatorSet returns the set that signs block height of lane, by the
// rule every node and auditor applies (verify.SignerHeight).
func (n *Node) validatorSet(lane chain.Lane, height uint64) (*chain.ValidatorSet, error) {
	return verify.ValidatorSet(committedChain{n}, lane, height)
}

// verifier checks blocks against this node's chain.
func (n *Node) verifier() *verify.Verifier { return verify.New(n.chainID, n.genHash) }

// committedChain reads this node's committed chain and state for package
// verify: the store and the blocks the commit writer has not written yet
// (its tip). The loop commits blocks, so only on the loop do its answers
// hold still across a verification; off the loop (proofs, the API) it
// answers for blocks already committed, which never change.
type committedChain struct{ n *Node }

var _ verify.HeaderReader = committedChain{}

func (c committedChain) Height(lane chain.Lane) uint64 { return c.n.tipHeight(lane) }

func (c committedChain) Header(lane chain.Lane, height uint64) (*chain.Header, error) {
	if h, ok := c.n.writer.header(lane, height); ok {
		return &h, nil
	}
	if h, ok := c.n.Head(lane); ok && h.Height == height {
		return &h, nil
	}
	h, err := c.n.store.Header(lane, height)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

func (c committedChain) ValidatorSetAt(txHeight uint64) (*chain.ValidatorSet, error) {
	return c.n.vsets.at(c.n, txHeight)
}

// validatorSets remembers the validator sets of recent tx heights.
//
// Every block's verification, every height's start and every finalized
// block's event asks for the set that signs it, and state.ValidatorSetAt
// finds its record in the state, decodes it and builds the set each time:
// about 2% of all CPU of 16 validators as processes at 500 readings/s
// ("waterchain bench --processes --validators 16 --rates 500
// --node-cpuprofile DIR --node-cpuprofile-steps"), a dozen times a
// height. The set of tx height h is final once the tx chain has executed
// h−2 (a change approved at H signs from H+2), and blocks are final, so
// an answer for h ≤ tip+2 never changes and is kept; one for a later
// height is not. The tip is read before the state, which is applied
// before the tip moves (commit, sync), so the state read holds at least
// that tip's blocks.
type validatorSets struct {
	mu   sync.Mutex
	sets map[uint64]*chain.ValidatorSet
}

// maxValidatorSets bounds the heights remembered; past it the lowest is
// dropped (the loop asks for the next heights, sync and the API for older
// ones, which are read again).
const maxValidatorSets = 16

// at returns the set that signs tx height txHeight on n's committed state.
func (s *validatorSets) at(n *Node, txHeight uint64) (*chain.ValidatorSet, error) {
	s.mu.Lock()
	vs, ok := s.sets[txHeight]
	s.mu.Unlock()
	if ok {
		return vs, nil
	}
	final := txHeight <= n.tipHeight(chain.LaneTx)+2
	vs, err := state.ValidatorSetAt(n.state, txHeight)
	if err != nil || !final {
		return vs, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sets == nil {
		s.sets = make(map[uint64]*chain.ValidatorSet, maxValidatorSets)
	}
	if len(s.sets) >= maxValidatorSets {
		lowest := txHeight
		for h := range s.sets {
			lowest = min(lowest, h)
		}
		delete(s.sets, lowest)
	}
	s.sets[txHeight] = vs
	return vs, nil
}
