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

// A header is hashed wherever a block is built, received, voted on,
// stored or audited, and encoded in every block and proposal, so like a
// reading or a vote it has a hand-written canonical encoder, without the
// generic encoder's reflection and its allocation of each hash. The bytes
// are consensus-critical, the block hash being their SHA-256: they are
// exactly those of the generic encoder (core deterministic CBOR of
// Header's struct tags: a map of integer keys in ascending order, no
// field omitted), which TestHeaderCBORMatchesGeneric checks at every
// field's edge values and FuzzHeaderCBORMatchesGeneric on random headers.
// MarshalCBOR makes the generic encoder of blocks and messages use it.

// HeaderEncodingCap bytes hold the canonical encoding of any header whose
// chain id is at most MaxChainIDLen bytes: 319 at the widest (every
// integer at its widest CBOR head; TestHeaderEncodingCap). A buffer of
// that capacity takes a header's encoding without allocating.
const HeaderEncodingCap = 319

// Hash is the block hash: SHA-256 of the header's canonical encoding.
func (h *Header) Hash() Hash {
	var buf [HeaderEncodingCap]byte // no allocation
	return HashBytes(h.AppendEncoding(buf[:0]))
}

// AppendEncoding appends h's canonical encoding, chain.Encode(h), to dst.
func (h *Header) AppendEncoding(dst []byte) []byte {
	dst = append(dst, CBORMap<<5|11, 1)
	dst = AppendCBORHead(dst, CBORText, uint64(len(h.ChainID)))
	dst = append(dst, h.ChainID...)
	dst = append(dst, 2)
	dst = AppendCBORHead(dst, CBORUint, uint64(h.Lane))
	dst = append(dst, 3)
	dst = AppendCBORHead(dst, CBORUint, h.Height)
	dst = append(dst, 4)
	dst = appendCBORInt(dst, int64(h.Time))
	dst = append(dst, 5)
	dst = appendCBORBytes(dst, h.PrevHash[:])
	dst = append(dst, 6)
	dst = AppendCBORHead(dst, CBORUint, uint64(h.NumEntries))
	dst = append(dst, 7)
	dst = appendCBORBytes(dst, h.EntriesRoot[:])
	dst = append(dst, 8)
	dst = appendCBORBytes(dst, h.StateRoot[:])
	// The anchor, a map of its own.
	dst = append(dst, 9, CBORMap<<5|2, 1)
	dst = AppendCBORHead(dst, CBORUint, h.Anchor.Height)
	dst = append(dst, 2)
	dst = appendCBORBytes(dst, h.Anchor.Hash[:])
	dst = append(dst, 10)
	dst = appendCBORBytes(dst, h.ValidatorsHash[:])
	dst = append(dst, 11)
	return appendCBORBytes(dst, h.Proposer[:])
}

// MarshalCBOR encodes h canonically, as the generic encoder would, into a
// buffer of the encoding's length. A value receiver, as Reading's: the
// generic encoder then calls it without copying the header to the heap
// (a pointer receiver is called on a copy when the header is not
// addressable, as in Decode's check of the canonical form).
func (h Header) MarshalCBOR() ([]byte, error) {
	var buf [HeaderEncodingCap]byte
	enc := h.AppendEncoding(buf[:0])
	return append(make([]byte, 0, len(enc)), enc...), nil
}

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
