package node

import (
	"fmt"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
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

// validatorSet returns the set that signs block height of lane. The tx lane
// at height h uses the set in force at tx height h. A data block uses the
// set in force at its parent's anchor (the tx height its parent was checked
// against), which every node knows before the height starts; so a change
// approved in tx block H signs data blocks whose parent's anchor reached
// H+2.
func (n *Node) validatorSet(lane chain.Lane, height uint64) (*chain.ValidatorSet, error) {
	txHeight := height
	if lane == chain.LaneData {
		txHeight = 0
		if height > 1 {
			parent, err := n.store.Header(chain.LaneData, height-1)
			if err != nil {
				return nil, fmt.Errorf("validator set of data/%d: parent header: %w", height, err)
			}
			txHeight = parent.Anchor.Height
		}
	}
	return state.ValidatorSetAt(n.state, txHeight)
}
