package chain

import (
	"errors"
	"fmt"
)

// Anchor names a finalized block of the other lane.
type Anchor struct {
	Height uint64 `cbor:"1,keyasint" json:"height"`
	Hash   Hash   `cbor:"2,keyasint" json:"hash"`
}

// Header is the hashed part of a block.
//
// A data block's Anchor names the tx block whose state (device registry,
// validator set) its readings were checked against; a tx block's Anchor names
// the data block up to which settlement may count readings. Anchor height 0
// with the genesis hash names genesis. Height 1's PrevHash is the genesis
// hash, which binds each chain to its genesis.
type Header struct {
	ChainID        string `cbor:"1,keyasint" json:"chain_id"`
	Lane           Lane   `cbor:"2,keyasint" json:"lane"`
	Height         uint64 `cbor:"3,keyasint" json:"height"`
	Time           Time   `cbor:"4,keyasint" json:"time"`
	PrevHash       Hash   `cbor:"5,keyasint" json:"prev_hash"`
	NumEntries     uint32 `cbor:"6,keyasint" json:"num_entries"`
	EntriesRoot    Hash   `cbor:"7,keyasint" json:"entries_root"`
	StateRoot      Hash   `cbor:"8,keyasint" json:"state_root"`
	Anchor         Anchor `cbor:"9,keyasint" json:"anchor"`
	ValidatorsHash Hash   `cbor:"10,keyasint" json:"validators_hash"`
	Proposer       PubKey `cbor:"11,keyasint" json:"proposer"`
}

// Hash is the block hash: SHA-256 of the header's canonical encoding.
func (h *Header) Hash() Hash { return HashBytes(MustEncode(h)) }

// Errors of VerifyLink.
var (
	ErrBadLink   = errors.New("bad hash link")
	ErrBadAnchor = errors.New("bad anchor")
)

// ValidateBasic checks the header's own fields.
func (h *Header) ValidateBasic() error {
	switch {
	case h.ChainID == "":
		return fieldErr("chain_id", "missing")
	case len(h.ChainID) > MaxChainIDLen:
		return fieldErr("chain_id", "longer than %d bytes", MaxChainIDLen)
	case !h.Lane.Valid():
		return fieldErr("lane", "unknown lane %d", h.Lane)
	case h.Height == 0:
		return fieldErr("height", "must be at least 1")
	case h.Time <= 0:
		return fieldErr("time", "missing")
	case h.PrevHash.IsZero():
		return fieldErr("prev_hash", "missing")
	case h.Anchor.Hash.IsZero():
		return fieldErr("anchor.hash", "missing")
	case h.ValidatorsHash.IsZero():
		return fieldErr("validators_hash", "missing")
	case h.Proposer.IsZero():
		return fieldErr("proposer", "missing")
	}
	return nil
}

// VerifyLink checks h against its parent on the same lane: chain id, lane,
// height, hash link, time and anchor monotonicity. For height 1, parent is
// nil and genesisHash is what PrevHash must name.
func VerifyLink(parent *Header, genesisHash Hash, h *Header) error {
	if parent == nil {
		if h.Height != 1 {
			return fmt.Errorf("%w: height %d has no parent", ErrBadLink, h.Height)
		}
		if h.PrevHash != genesisHash {
			return fmt.Errorf("%w: height 1 prev_hash %s is not the genesis hash %s", ErrBadLink, h.PrevHash, genesisHash)
		}
		return nil
	}
	switch {
	case h.ChainID != parent.ChainID:
		return fmt.Errorf("%w: chain id %q, parent has %q", ErrBadLink, h.ChainID, parent.ChainID)
	case h.Lane != parent.Lane:
		return fmt.Errorf("%w: lane %s, parent is on %s", ErrBadLink, h.Lane, parent.Lane)
	case h.Height != parent.Height+1:
		return fmt.Errorf("%w: height %d follows parent height %d", ErrBadLink, h.Height, parent.Height)
	case h.PrevHash != parent.Hash():
		return fmt.Errorf("%w: prev_hash %s, parent hash is %s", ErrBadLink, h.PrevHash, parent.Hash())
	case h.Time <= parent.Time:
		return fmt.Errorf("%w: time %s is not after parent time %s", ErrBadLink, h.Time, parent.Time)
	case h.Anchor.Height < parent.Anchor.Height:
		return fmt.Errorf("%w: anchor height %d goes back from parent's %d", ErrBadAnchor, h.Anchor.Height, parent.Anchor.Height)
	case h.Anchor.Height == parent.Anchor.Height && h.Anchor.Hash != parent.Anchor.Hash:
		return fmt.Errorf("%w: anchor %d hash %s differs from parent's %s", ErrBadAnchor, h.Anchor.Height, h.Anchor.Hash, parent.Anchor.Hash)
	}
	return nil
}

func (h *Header) String() string {
	return fmt.Sprintf("%s/%d %s", h.Lane, h.Height, h.Hash().Short())
}
