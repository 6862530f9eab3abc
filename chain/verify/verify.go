package verify

import (
	"errors"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// Errors of verification. A block that breaks a rule gets an error
// wrapping one of them (or chain.ErrBadLink, chain.ErrBadAnchor,
// chain.ErrInvalid); ErrAhead and ErrAnchorAhead are not the block's
// fault: the reader's chain has not reached what the block builds on yet.
var (
	// ErrWrongChain is wrapped when a header names another chain id.
	ErrWrongChain = errors.New("wrong chain id")
	// ErrAhead is wrapped when a block is beyond the next height of the
	// reader's chain: its parent is not finalized there yet.
	ErrAhead = errors.New("block beyond the next height")
	// ErrAnchorAhead is wrapped when a block's anchor names a height of
	// the other lane that the reader has not finalized yet.
	ErrAnchorAhead = errors.New("anchor not finalized yet")
	// ErrValidatorSet is wrapped when a header names another validator
	// set than the one that must sign it, or that set cannot be read.
	ErrValidatorSet = errors.New("wrong validator set")
	// ErrProposer is wrapped when a header's proposer is not a member of
	// the validator set that signs it.
	ErrProposer = errors.New("proposer not in the validator set")
	// ErrCertificate is wrapped when a block's commit certificate is
	// missing or does not prove it final: a signature that is not a
	// member's, forged, repeated, or too few of them (chain.ErrNoQuorum).
	ErrCertificate = errors.New("bad commit certificate")
)

// HeaderReader is what verification needs of the chain a block extends:
// the finalized headers of both lanes and the validator sets recorded by
// the tx chain. Implementations answer from one consistent point of the
// chain; verification does not change them and is called from the one
// goroutine that owns them.
type HeaderReader interface {
	// Height is the finalized height of lane (0 before its first block).
	Height(lane chain.Lane) uint64
	// Header returns the finalized header of lane at height, for
	// 1 ≤ height ≤ Height(lane).
	Header(lane chain.Lane, height uint64) (*chain.Header, error)
	// ValidatorSetAt returns the validator set in force at tx height
	// txHeight (the genesis set at 0).
	ValidatorSetAt(txHeight uint64) (*chain.ValidatorSet, error)
}

// Verifier checks blocks of one network.
type Verifier struct {
	chainID     string
	genesisHash chain.Hash
}

// New returns the verifier of the network with chainID whose genesis
// hashes to genesisHash (what height 1 links to and anchor height 0
// names).
func New(chainID string, genesisHash chain.Hash) *Verifier {
	return &Verifier{chainID: chainID, genesisHash: genesisHash}
}

// SignerHeight is the tx height whose validator set signs block height of
// lane: tx block h is signed by the set in force at tx height h; data
// block h by the set in force at the anchor of data block h-1 (genesis
// for height 1), which every node knows before height h starts. So a
// change approved in tx block H signs tx blocks from H+2 and the data
// blocks whose parent's anchor reached H+2. The parent of data height h
// must be finalized in r.
func SignerHeight(r HeaderReader, lane chain.Lane, height uint64) (uint64, error) {
	if lane != chain.LaneData {
		return height, nil
	}
	if height <= 1 {
		return 0, nil
	}
	parent, err := r.Header(chain.LaneData, height-1)
	if err != nil {
		return 0, fmt.Errorf("validator set of data/%d: parent header: %w", height, err)
	}
	return parent.Anchor.Height, nil
}

// ValidatorSet returns the set that signs block height of lane (see
// SignerHeight).
func ValidatorSet(r HeaderReader, lane chain.Lane, height uint64) (*chain.ValidatorSet, error) {
	at, err := SignerHeight(r, lane, height)
	if err != nil {
		return nil, err
	}
	return r.ValidatorSetAt(at)
}

// Header checks h as the next block of its lane on r's chain and returns
// the validator set that must sign it. In order: the header's fields,
// chain id, height, hash link to the parent (prev hash, time, anchor
// monotonicity: chain.VerifyLink), the anchor (a finalized block of the
// other lane, or genesis at height 0), the validator-set hash and the
// proposer's membership.
func (v *Verifier) Header(r HeaderReader, h *chain.Header) (*chain.ValidatorSet, error) {
	if err := h.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if h.ChainID != v.chainID {
		return nil, fmt.Errorf("%w: header names %q, this network is %q", ErrWrongChain, h.ChainID, v.chainID)
	}
	lane := h.Lane
	head := r.Height(lane)
	if h.Height > head+1 {
		return nil, fmt.Errorf("%w: block %s/%d, the chain is at %d", ErrAhead, lane, h.Height, head)
	}
	var parent *chain.Header
	if head > 0 {
		p, err := r.Header(lane, head)
		if err != nil {
			return nil, fmt.Errorf("parent %s/%d: %w", lane, head, err)
		}
		parent = p
	}
	if err := chain.VerifyLink(parent, v.genesisHash, h); err != nil {
		return nil, err
	}
	if err := v.anchor(r, h); err != nil {
		return nil, err
	}
	at, err := SignerHeight(r, lane, h.Height)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrValidatorSet, err)
	}
	vs, err := r.ValidatorSetAt(at)
	if err != nil {
		return nil, fmt.Errorf("%w: set in force at tx height %d: %w", ErrValidatorSet, at, err)
	}
	if h.ValidatorsHash != vs.Hash() {
		return nil, fmt.Errorf("%w: header names %s, the set of %s/%d (in force at tx height %d) is %s",
			ErrValidatorSet, h.ValidatorsHash.Short(), lane, h.Height, at, vs.Hash().Short())
	}
	if !vs.Has(h.Proposer) {
		return nil, fmt.Errorf("%w: proposer %s, set %s", ErrProposer, h.Proposer.Short(), vs.Hash().Short())
	}
	return vs, nil
}

// anchor checks that h's anchor names a finalized block of the other lane
// (genesis at height 0). chain.VerifyLink has checked it does not go back.
func (v *Verifier) anchor(r HeaderReader, h *chain.Header) error {
	other := h.Lane.Other()
	if h.Anchor.Height == 0 {
		if h.Anchor.Hash != v.genesisHash {
			return fmt.Errorf("%w: anchor at height 0 must name genesis %s, names %s", chain.ErrBadAnchor, v.genesisHash.Short(), h.Anchor.Hash.Short())
		}
		return nil
	}
	if top := r.Height(other); h.Anchor.Height > top {
		return fmt.Errorf("%w: anchor %s/%d is beyond the %s head %d", ErrAnchorAhead, other, h.Anchor.Height, other, top)
	}
	ah, err := r.Header(other, h.Anchor.Height)
	if err != nil {
		return fmt.Errorf("%w: anchor %s/%d: %w", chain.ErrBadAnchor, other, h.Anchor.Height, err)
	}
	if got := ah.Hash(); got != h.Anchor.Hash {
		return fmt.Errorf("%w: anchor %s/%d names %s, the finalized block is %s", chain.ErrBadAnchor, other, h.Anchor.Height, h.Anchor.Hash.Short(), got.Short())
	}
	return nil
}

// Certificate checks that b's commit certificate proves b final under vs,
// the set Header returned for it: signers are distinct members, their
// precommits for b's hash verify, and they are a quorum.
func (v *Verifier) Certificate(vs *chain.ValidatorSet, b *chain.Block) error {
	if b.Cert == nil {
		return fmt.Errorf("%w: %s/%d has none", ErrCertificate, b.Header.Lane, b.Header.Height)
	}
	if err := b.Cert.Verify(v.chainID, vs, b.Header.Lane, b.Header.Height, b.Hash()); err != nil {
		return fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	return nil
}

// Block checks a finalized block as the next of its lane on r's chain:
// its header (Header), then its certificate (Certificate).
func (v *Verifier) Block(r HeaderReader, b *chain.Block) error {
	vs, err := v.Header(r, &b.Header)
	if err != nil {
		return err
	}
	return v.Certificate(vs, b)
}
