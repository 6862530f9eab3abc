package chain

import (
	"fmt"
)

// Evidence proves that one validator equivocated: two votes of the same type,
// lane, height and round for different blocks, or two proposals for the same
// lane, height and round of different blocks. Exactly one pair is set.
type Evidence struct {
	VoteA     *Vote        `cbor:"1,keyasint,omitempty" json:"vote_a,omitempty"`
	VoteB     *Vote        `cbor:"2,keyasint,omitempty" json:"vote_b,omitempty"`
	ProposalA *ProposalRef `cbor:"3,keyasint,omitempty" json:"proposal_a,omitempty"`
	ProposalB *ProposalRef `cbor:"4,keyasint,omitempty" json:"proposal_b,omitempty"`
}

// Offender is the validator the evidence accuses.
func (e *Evidence) Offender() PubKey {
	if e.VoteA != nil {
		return e.VoteA.Validator
	}
	if e.ProposalA != nil {
		return e.ProposalA.Proposer
	}
	return PubKey{}
}

// Height is the lane and height of the equivocation.
func (e *Evidence) Height() (Lane, uint64) {
	if e.VoteA != nil {
		return e.VoteA.Lane, e.VoteA.Height
	}
	if e.ProposalA != nil {
		return e.ProposalA.Lane, e.ProposalA.Height
	}
	return 0, 0
}

// ID identifies the equivocation independent of the order of the pair, so
// the same misbehaviour is recorded once.
func (e *Evidence) ID() Hash {
	var a, b []byte
	switch {
	case e.VoteA != nil && e.VoteB != nil:
		a, b = MustEncode(e.VoteA), MustEncode(e.VoteB)
	case e.ProposalA != nil && e.ProposalB != nil:
		a, b = MustEncode(e.ProposalA), MustEncode(e.ProposalB)
	}
	if string(a) > string(b) {
		a, b = b, a
	}
	return HashBytes(append(a, b...))
}

// ValidateBasic checks that the pair conflicts, without signatures.
func (e *Evidence) ValidateBasic() error {
	votes := e.VoteA != nil || e.VoteB != nil
	props := e.ProposalA != nil || e.ProposalB != nil
	switch {
	case votes && props, !votes && !props:
		return fieldErr("evidence", "want exactly one pair of votes or of proposals")
	case votes:
		a, b := e.VoteA, e.VoteB
		if a == nil || b == nil {
			return fieldErr("vote_b", "a pair needs two votes")
		}
		if err := a.ValidateBasic(); err != nil {
			return fmt.Errorf("vote_a: %w", err)
		}
		if err := b.ValidateBasic(); err != nil {
			return fmt.Errorf("vote_b: %w", err)
		}
		if a.Validator != b.Validator || a.Type != b.Type || a.Lane != b.Lane || a.Height != b.Height || a.Round != b.Round {
			return fieldErr("evidence", "votes are not from the same validator, type, lane, height and round")
		}
		if a.BlockHash == b.BlockHash {
			return fieldErr("evidence", "votes do not conflict: same block")
		}
	default:
		a, b := e.ProposalA, e.ProposalB
		if a == nil || b == nil {
			return fieldErr("proposal_b", "a pair needs two proposals")
		}
		if err := a.ValidateBasic(); err != nil {
			return fmt.Errorf("proposal_a: %w", err)
		}
		if err := b.ValidateBasic(); err != nil {
			return fmt.Errorf("proposal_b: %w", err)
		}
		if a.Proposer != b.Proposer || a.Lane != b.Lane || a.Height != b.Height || a.Round != b.Round {
			return fieldErr("evidence", "proposals are not from the same proposer, lane, height and round")
		}
		if a.BlockHash == b.BlockHash {
			return fieldErr("evidence", "proposals do not conflict: same block")
		}
	}
	return nil
}

// VerifySignatures checks both signatures of the pair.
func (e *Evidence) VerifySignatures(chainID string) error {
	if e.VoteA != nil {
		if err := e.VoteA.VerifySignature(chainID); err != nil {
			return fmt.Errorf("vote_a: %w", err)
		}
		if err := e.VoteB.VerifySignature(chainID); err != nil {
			return fmt.Errorf("vote_b: %w", err)
		}
		return nil
	}
	if err := e.ProposalA.VerifySignature(chainID); err != nil {
		return fmt.Errorf("proposal_a: %w", err)
	}
	if err := e.ProposalB.VerifySignature(chainID); err != nil {
		return fmt.Errorf("proposal_b: %w", err)
	}
	return nil
}
