package node

import (
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
	return state.ValidatorSetAt(c.n.state, txHeight)
}
