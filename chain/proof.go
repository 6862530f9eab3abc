package chain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ReadingProof is a self-contained proof that a reading is final on the
// data chain: the reading, its RFC 6962 audit path to its block's entries
// root, the block header, the block's commit certificate, and the validator
// set that must sign it with the set changes that lead to it from genesis.
// Anyone holding the genesis file checks it with Verify and nothing else.
//
// ReadingCBOR and HeaderCBOR repeat the reading and header in their
// canonical encoding (hex in JSON), so that a verifier without a CBOR
// encoder (the dashboard's JavaScript) can hash exactly the signed bytes;
// Verify checks they match the decoded values.
type ReadingProof struct {
	ChainID     string       `cbor:"1,keyasint" json:"chain_id"`
	GenesisHash Hash         `cbor:"2,keyasint" json:"genesis_hash"`
	Reading     *Reading     `cbor:"3,keyasint" json:"reading"`
	ReadingCBOR HexBytes     `cbor:"4,keyasint" json:"reading_cbor"`
	Index       uint64       `cbor:"5,keyasint" json:"index"`
	Path        []Hash       `cbor:"6,keyasint" json:"path"`
	Header      Header       `cbor:"7,keyasint" json:"header"`
	HeaderCBOR  HexBytes     `cbor:"8,keyasint" json:"header_cbor"`
	Cert        *Certificate `cbor:"9,keyasint" json:"cert"`
	// Validators is the set that signs this block, in proposer order.
	Validators []PubKey `cbor:"10,keyasint" json:"validators"`
	// SetChanges lead from the genesis set to Validators; empty while the
	// set has never changed.
	SetChanges []SetChange `cbor:"11,keyasint,omitempty" json:"set_changes,omitempty"`
}

// SetChange is one validator-set change: the new set, in force from tx
// height Effective, and the certified tx block that approved it. The
// approving block's header carries the hash of the set that signed it
// (the previous set), so a chain of SetChanges is checked link by link.
type SetChange struct {
	Effective  uint64       `cbor:"1,keyasint" json:"effective"`
	Validators []PubKey     `cbor:"2,keyasint" json:"validators"`
	Approval   Header       `cbor:"3,keyasint" json:"approval"`
	Cert       *Certificate `cbor:"4,keyasint" json:"cert"`
}

// HexBytes is a byte string written as hex in JSON.
type HexBytes []byte

func (b HexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(b)) }
func (b *HexBytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*b = raw
	return nil
}

// ErrBadProof is wrapped by every error of ReadingProof.Verify.
var ErrBadProof = errors.New("proof does not verify")

// Verify checks p against the genesis of its network (its chain id, hash
// and validator set): the reading's signature, its inclusion in the block's
// entries, the header's integrity, the certificate's quorum of valid
// precommits by the right set, and that set's descent from genesis. It
// returns nil only if every check passes.
func (p *ReadingProof) Verify(chainID string, genesisHash Hash, genesisValidators []PubKey) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadProof, fmt.Sprintf(format, args...))
	}
	switch {
	case p.ChainID != chainID:
		return fail("proof is for chain %q, genesis is %q", p.ChainID, chainID)
	case p.GenesisHash != genesisHash:
		return fail("proof is for genesis %s, this genesis is %s", p.GenesisHash, genesisHash)
	case p.Reading == nil || p.Cert == nil:
		return fail("reading or certificate missing")
	}
	if err := p.Reading.ValidateBasic(); err != nil {
		return fail("reading: %v", err)
	}
	leaf := p.Reading.Encode()
	if !bytes.Equal(leaf, p.ReadingCBOR) {
		return fail("reading_cbor is not the canonical encoding of reading")
	}
	if !bytes.Equal(MustEncode(&p.Header), p.HeaderCBOR) {
		return fail("header_cbor is not the canonical encoding of header")
	}
	if err := p.Reading.VerifySignature(chainID); err != nil {
		return fail("reading: %v", err)
	}
	if err := p.Header.ValidateBasic(); err != nil {
		return fail("header: %v", err)
	}
	if p.Header.ChainID != chainID || p.Header.Lane != LaneData {
		return fail("header is %s on chain %q, want a data block of %q", p.Header.Lane, p.Header.ChainID, chainID)
	}
	if err := VerifyInclusion(leaf, p.Index, uint64(p.Header.NumEntries), p.Path, p.Header.EntriesRoot); err != nil {
		return fail("reading is not entry %d of block data/%d: %v", p.Index, p.Header.Height, err)
	}
	vs, err := p.signingSet(chainID, genesisValidators)
	if err != nil {
		return err
	}
	if vs.Hash() != p.Header.ValidatorsHash {
		return fail("the proof's validator set %s is not the set the header names (%s)", vs.Hash().Short(), p.Header.ValidatorsHash.Short())
	}
	if err := p.Cert.Verify(chainID, vs, LaneData, p.Header.Height, p.Header.Hash()); err != nil {
		return fail("certificate: %v", err)
	}
	return nil
}

// signingSet follows SetChanges from the genesis set and checks that it
// ends at Validators.
func (p *ReadingProof) signingSet(chainID string, genesisValidators []PubKey) (*ValidatorSet, error) {
	cur, err := NewValidatorSet(genesisValidators)
	if err != nil {
		return nil, fmt.Errorf("%w: genesis validators: %v", ErrBadProof, err)
	}
	var lastEffective uint64
	for i, c := range p.SetChanges {
		if c.Cert == nil || c.Approval.Lane != LaneTx || c.Effective != c.Approval.Height+2 || c.Effective <= lastEffective {
			return nil, fmt.Errorf("%w: set_changes[%d]: malformed", ErrBadProof, i)
		}
		if c.Approval.ValidatorsHash != cur.Hash() {
			return nil, fmt.Errorf("%w: set_changes[%d]: approving block is signed by set %s, the set in force is %s", ErrBadProof, i, c.Approval.ValidatorsHash.Short(), cur.Hash().Short())
		}
		if err := c.Cert.Verify(chainID, cur, LaneTx, c.Approval.Height, c.Approval.Hash()); err != nil {
			return nil, fmt.Errorf("%w: set_changes[%d]: %v", ErrBadProof, i, err)
		}
		next, err := NewValidatorSet(c.Validators)
		if err != nil {
			return nil, fmt.Errorf("%w: set_changes[%d]: %v", ErrBadProof, i, err)
		}
		cur, lastEffective = next, c.Effective
	}
	want, err := NewValidatorSet(p.Validators)
	if err != nil {
		return nil, fmt.Errorf("%w: validators: %v", ErrBadProof, err)
	}
	if want.Hash() != cur.Hash() {
		return nil, fmt.Errorf("%w: validators do not follow from genesis through set_changes", ErrBadProof)
	}
	return cur, nil
}
