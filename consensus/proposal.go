package consensus

import (
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// Who signs a proposal.
//
// chain.Proposal.Ref names the block header's proposer as the signer. That
// holds for a fresh proposal, whose block the round's proposer built, but
// not for a re-proposal (Algorithm 1, line 16): the proposer of a later
// round must offer the very block that gathered the proof of lock, and
// that block names its author, the proposer of an earlier round. Were only
// the author allowed to re-propose it, a faulty author could leave f+1
// correct validators locked on a block nobody else may offer, and the
// height would never finalize.
//
// So the engine defines the signer of a proposal for (height, round) as
// the round's proposer, vs.Proposer(height, round), and signs and verifies
// the ProposalRef with that key (ProposalRef). For every fresh proposal
// this is exactly chain.Proposal.Ref and chain.Proposal.VerifySignature;
// for a re-proposal of another validator's block only ProposalRef and
// VerifyProposal are right. Equivocation evidence carries these refs, so
// chain.Evidence.VerifySignatures checks it correctly.

// ProposalRef returns the signed part of p with the round's proposer in vs
// as the signer. p must pass ValidateBasic (it needs p.Block).
func ProposalRef(vs *chain.ValidatorSet, p *chain.Proposal) chain.ProposalRef {
	ref := p.Ref()
	ref.Proposer = vs.Proposer(p.Height, p.Round)
	return ref
}

// VerifyProposal runs the stateless checks of p against the validator set
// of its height, cheap to expensive: ValidateBasic, the header's chain id
// and validator-set hash, the header's proposer (the round's proposer for a
// fresh block; for a re-proposal, the proposer of a round no later than
// the proof of lock), then the round proposer's signature. Drivers call it
// at the gossip door when they know the set; the engine calls it on every
// proposal it accepts.
func VerifyProposal(chainID string, vs *chain.ValidatorSet, p *chain.Proposal) error {
	if p == nil {
		return fmt.Errorf("%w: nil proposal", ErrInvalidMessage)
	}
	if err := p.ValidateBasic(); err != nil {
		return fmt.Errorf("%w: proposal: %w", ErrInvalidMessage, err)
	}
	h := &p.Block.Header
	if h.ChainID != chainID {
		return fmt.Errorf("%w: proposal block is for chain %q, this is %q", ErrInvalidMessage, h.ChainID, chainID)
	}
	if h.ValidatorsHash != vs.Hash() {
		return fmt.Errorf("%w: proposal %s/%d/%d: block names validator set %s, height's set is %s",
			ErrInvalidMessage, p.Lane, p.Height, p.Round, h.ValidatorsHash.Short(), vs.Hash().Short())
	}
	signer := vs.Proposer(p.Height, p.Round)
	if p.POLRound < 0 {
		if h.Proposer != signer {
			return fmt.Errorf("%w: proposal %s/%d/%d: block proposer %s, round proposer is %s",
				ErrInvalidMessage, p.Lane, p.Height, p.Round, h.Proposer.Short(), signer.Short())
		}
	} else if r0, ok := firstRoundOf(vs, p.Height, h.Proposer); !ok || r0 > uint32(p.POLRound) {
		return fmt.Errorf("%w: proposal %s/%d/%d: re-proposed block's proposer %s did not propose by round %d",
			ErrInvalidMessage, p.Lane, p.Height, p.Round, h.Proposer.Short(), p.POLRound)
	}
	ref := ProposalRef(vs, p)
	if err := ref.VerifySignature(chainID); err != nil {
		return fmt.Errorf("%w: proposal %s/%d/%d: %w", ErrInvalidMessage, p.Lane, p.Height, p.Round, err)
	}
	return nil
}

// firstRoundOf is the first round of height in which key proposes.
func firstRoundOf(vs *chain.ValidatorSet, height uint64, key chain.PubKey) (uint32, bool) {
	i := vs.Index(key)
	if i < 0 {
		return 0, false
	}
	n := uint64(vs.Size())
	return uint32((uint64(i) + n - height%n) % n), true
}

// signProposal makes the signed proposal of block at (round, polRound)
// with key, the round's proposer.
func signProposal(chainID string, key *chain.PrivateKey, block *chain.Block, round uint32, polRound int32) *chain.Proposal {
	p := &chain.Proposal{Lane: block.Header.Lane, Height: block.Header.Height, Round: round, POLRound: polRound, Block: block}
	ref := p.Ref()
	ref.Proposer = key.Public()
	p.Sig = key.Sign(chain.DomainProposal, chainID, ref.SigningBytes())
	return p
}
