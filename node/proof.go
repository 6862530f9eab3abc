package node

import (
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
	"github.com/waterchain/waterchain/node/api"
)

// ReadingProof builds the self-contained proof bundle of one finalized
// reading (GET /v1/proofs/readings/{device}/{seq}).
func (n *Node) ReadingProof(device chain.PubKey, seq uint64) (*chain.ReadingProof, error) {
	// Final, in a block not written yet (commitwriter.go), or stored; the
	// queue first, as a block leaves it only once the store holds it.
	r, loc, queued := n.writer.readingOf(device, seq)
	var err error
	if !queued {
		r, loc, err = n.store.Reading(device, seq)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.NotFound("no final reading of device %s with seq %d", device.Short(), seq)
	}
	if err != nil {
		return nil, err
	}
	b, ok := n.writer.block(chain.LaneData, loc.Height)
	if !ok { // stored, or written since
		if b, err = n.store.Block(chain.LaneData, loc.Height); err != nil {
			return nil, err
		}
	}
	path, err := chain.InclusionProof(b.Leaves(), int(loc.Index))
	if err != nil {
		return nil, err
	}
	vs, err := n.validatorSet(chain.LaneData, loc.Height)
	if err != nil {
		return nil, err
	}
	p := &chain.ReadingProof{
		ChainID: n.chainID, GenesisHash: n.genHash,
		Reading: r, ReadingCBOR: r.Encode(), Index: uint64(loc.Index), Path: path,
		Header: b.Header, HeaderCBOR: chain.MustEncode(&b.Header), Cert: b.Cert,
		Validators: vs.Keys(),
	}
	// The set changes from genesis up to the set that signs this block.
	history, err := state.ValidatorSetHistory(n.state)
	if err != nil {
		return nil, err
	}
	signer, err := verify.SignerHeight(committedChain{n}, chain.LaneData, loc.Height)
	if err != nil {
		return nil, err
	}
	for _, rec := range history {
		if rec.ApprovedHeight == 0 {
			continue // genesis
		}
		if rec.From > signer {
			break // takes effect after this block
		}
		approval, err := n.store.Block(chain.LaneTx, rec.ApprovedHeight)
		if err != nil {
			return nil, fmt.Errorf("approving block tx/%d of a validator-set change: %w", rec.ApprovedHeight, err)
		}
		p.SetChanges = append(p.SetChanges, chain.SetChange{
			Effective: rec.From, Validators: rec.Keys, Approval: approval.Header, Cert: approval.Cert,
		})
	}
	return p, nil
}
