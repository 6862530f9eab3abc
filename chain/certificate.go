package chain

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// ErrNoQuorum is returned (wrapped) when a certificate has too few valid
// signatures.
var ErrNoQuorum = errors.New("no quorum")

// CommitSig is one validator's precommit signature in a certificate.
type CommitSig struct {
	Validator PubKey    `cbor:"1,keyasint" json:"validator"`
	Sig       Signature `cbor:"2,keyasint" json:"sig"`
}

// Certificate proves a block final: precommits for it from more than two
// thirds of the validator set named by its header, all from one round.
// Each signature is over the precommit Vote{Precommit, Lane, Height, Round,
// BlockHash, Validator}.
type Certificate struct {
	Lane      Lane        `cbor:"1,keyasint" json:"lane"`
	Height    uint64      `cbor:"2,keyasint" json:"height"`
	Round     uint32      `cbor:"3,keyasint" json:"round"`
	BlockHash Hash        `cbor:"4,keyasint" json:"block_hash"`
	Sigs      []CommitSig `cbor:"5,keyasint" json:"sigs"`
}

// NewCertificate builds a certificate from precommits for one block and
// round, in the order of the validator set. It does not verify them.
func NewCertificate(vs *ValidatorSet, precommits []*Vote) (*Certificate, error) {
	if len(precommits) == 0 {
		return nil, fmt.Errorf("%w: no precommits", ErrNoQuorum)
	}
	first := precommits[0]
	c := &Certificate{Lane: first.Lane, Height: first.Height, Round: first.Round, BlockHash: first.BlockHash}
	byIndex := make(map[int]*Vote, len(precommits))
	for _, v := range precommits {
		if v.Type != Precommit || v.Lane != c.Lane || v.Height != c.Height || v.Round != c.Round || v.BlockHash != c.BlockHash {
			return nil, fmt.Errorf("precommit %s does not match %s/%d/%d %s", v, c.Lane, c.Height, c.Round, c.BlockHash.Short())
		}
		i := vs.Index(v.Validator)
		if i < 0 {
			return nil, fmt.Errorf("precommit by %s: not a validator", v.Validator.Short())
		}
		byIndex[i] = v
	}
	for i := 0; i < vs.Size(); i++ {
		if v, ok := byIndex[i]; ok {
			c.Sigs = append(c.Sigs, CommitSig{Validator: v.Validator, Sig: v.Sig})
		}
	}
	if len(c.Sigs) < vs.Quorum() {
		return nil, fmt.Errorf("%w: %d precommits, need %d of %d", ErrNoQuorum, len(c.Sigs), vs.Quorum(), vs.Size())
	}
	return c, nil
}

// Precommit returns the vote that the i-th signature signs.
func (c *Certificate) Precommit(i int) *Vote {
	return &Vote{
		Type: Precommit, Lane: c.Lane, Height: c.Height, Round: c.Round,
		BlockHash: c.BlockHash, Validator: c.Sigs[i].Validator, Sig: c.Sigs[i].Sig,
	}
}

// ValidateBasic checks the shape of c without signatures or a set.
func (c *Certificate) ValidateBasic() error {
	switch {
	case !c.Lane.Valid():
		return fieldErr("lane", "unknown lane %d", c.Lane)
	case c.Height == 0:
		return fieldErr("height", "must be at least 1")
	case c.Round > MaxRound:
		return fieldErr("round", "%d exceeds %d", c.Round, MaxRound)
	case c.BlockHash.IsZero():
		return fieldErr("block_hash", "missing")
	case len(c.Sigs) == 0:
		return fieldErr("sigs", "empty")
	case len(c.Sigs) > MaxValidators:
		return fieldErr("sigs", "%d signatures exceed %d", len(c.Sigs), MaxValidators)
	}
	for i, s := range c.Sigs {
		if len(s.Sig) != ed25519.SignatureSize {
			return fieldErr(fmt.Sprintf("sigs[%d].sig", i), "want %d bytes, got %d", ed25519.SignatureSize, len(s.Sig))
		}
	}
	return nil
}

// Verify checks that c certifies the block with hash blockHash at lane and
// height: every signer is a distinct member of vs, every signature verifies,
// and there are at least vs.Quorum() of them. Cheap checks run first.
func (c *Certificate) Verify(chainID string, vs *ValidatorSet, lane Lane, height uint64, blockHash Hash) error {
	if err := c.VerifySigners(vs, lane, height, blockHash); err != nil {
		return err
	}
	for i := range c.Sigs {
		if err := c.Precommit(i).VerifySignature(chainID); err != nil {
			return fmt.Errorf("sigs[%d]: %w", i, err)
		}
	}
	return nil
}

// VerifySigners is Verify without the signatures: for a caller that has
// checked them already, in a batch with others (block sync checks those of
// many blocks in one BatchVerifier).
func (c *Certificate) VerifySigners(vs *ValidatorSet, lane Lane, height uint64, blockHash Hash) error {
	if err := c.ValidateBasic(); err != nil {
		return err
	}
	if c.Lane != lane || c.Height != height {
		return fmt.Errorf("certificate is for %s/%d, block is %s/%d", c.Lane, c.Height, lane, height)
	}
	if c.BlockHash != blockHash {
		return fmt.Errorf("certificate is for block %s, block hash is %s", c.BlockHash, blockHash)
	}
	if len(c.Sigs) < vs.Quorum() {
		return fmt.Errorf("%w: %d signatures, need %d of %d validators", ErrNoQuorum, len(c.Sigs), vs.Quorum(), vs.Size())
	}
	seen := make(map[PubKey]bool, len(c.Sigs))
	for i, s := range c.Sigs {
		if !vs.Has(s.Validator) {
			return fmt.Errorf("sigs[%d]: %s is not in validator set %s", i, s.Validator.Short(), vs.Hash().Short())
		}
		if seen[s.Validator] {
			return fmt.Errorf("sigs[%d]: %s signed twice", i, s.Validator.Short())
		}
		seen[s.Validator] = true
	}
	return nil
}
