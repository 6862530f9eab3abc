// Package verify holds the rules every node applies to a block of either
// lane before it follows it: the header against the chain it extends and
// the commit certificate against the validator set that must sign it. It
// is written once and called by every path that accepts a block: a
// validator checking a proposal, a node committing blocks fetched by
// block sync, and the auditor re-verifying a store from genesis. If two
// of them disagreed, an auditor would refuse the chain its validators
// built.
//
// The checks run cheap to expensive, as go-ethereum's clique verifyHeader
// does: the header's own fields, the chain id, the height, the hash link
// to the parent (time, anchor monotonicity), the anchor against the other
// lane, the validator-set hash, the proposer's membership, and last the
// certificate's signatures.
//
// The verifier sees the chain only through a HeaderReader, which each
// caller implements over what it holds: the node over its store and
// state, the audit over the blocks it has verified so far. Entry
// signatures and the state transition (package state) are not this
// package's: they cost per entry and run where their cost is managed.
package verify
