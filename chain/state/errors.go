package state

import "errors"

// Errors of transactions. Each rejected transaction's error wraps one of
// these and names the values involved; the state is left unchanged.
var (
	// ErrMalformedTx: the transaction fails chain.Tx.ValidateBasic.
	ErrMalformedTx = errors.New("malformed transaction")
	// ErrZeroAmount: an amount, volume or price is zero.
	ErrZeroAmount = errors.New("zero amount")
	// ErrOverflow: an amount would not fit in 64 bits.
	ErrOverflow = errors.New("amount overflows")
	// ErrBadNonce: the nonce is not the sender's next one.
	ErrBadNonce = errors.New("wrong nonce")
	// ErrInsufficientFunds: the sender has fewer drops than the
	// transaction needs.
	ErrInsufficientFunds = errors.New("insufficient drops")
	// ErrInsufficientAllowance: the seller has less unused allowance this
	// period than it offers.
	ErrInsufficientAllowance = errors.New("insufficient allowance")
	// ErrNotAllowed: the signer may not do this (a non-regulator setting a
	// permit, someone revoking another industry's device, cancelling
	// another's offer).
	ErrNotAllowed = errors.New("signer not allowed")
	// ErrNotIndustry: the sender must be an industry named in genesis.
	ErrNotIndustry = errors.New("not an industry")
	// ErrUnknownIndustry: the named industry does not exist.
	ErrUnknownIndustry = errors.New("unknown industry")
	// ErrDeviceExists: the device key was registered before (revoked keys
	// are never registered again).
	ErrDeviceExists = errors.New("device already registered")
	// ErrUnknownDevice: the device is not registered (as of the anchor, for
	// readings).
	ErrUnknownDevice = errors.New("unknown device")
	// ErrDeviceRevoked: the device has been revoked.
	ErrDeviceRevoked = errors.New("device revoked")
	// ErrOfferNotFound: no offer has that id.
	ErrOfferNotFound = errors.New("offer not found")
	// ErrEvidenceNotFound: no evidence is recorded with that id.
	ErrEvidenceNotFound = errors.New("evidence not found")
	// ErrOwnOffer: an industry tried to accept its own offer.
	ErrOwnOffer = errors.New("own offer")
	// ErrOfferExpired: the offer belonged to a period that has ended.
	ErrOfferExpired = errors.New("offer expired")
	// ErrOfferClosed: the offer was filled or cancelled.
	ErrOfferClosed = errors.New("offer closed")
	// ErrOfferExceeded: buying more than the offer has left.
	ErrOfferExceeded = errors.New("buying more than offered")
	// ErrNotValidator: a validator-set vote from a key that is not a
	// current validator.
	ErrNotValidator = errors.New("not a validator")
	// ErrBadValidatorChange: adding a validator that is (or is scheduled to
	// be) in the set, removing one that is not, or emptying the set.
	ErrBadValidatorChange = errors.New("bad validator change")
	// ErrDuplicateVote: the validator already voted for this change.
	ErrDuplicateVote = errors.New("duplicate vote")
	// ErrBadEvidence: the evidence does not verify or accuses a key that
	// never was a validator.
	ErrBadEvidence = errors.New("bad evidence")
	// ErrDuplicateEvidence: the same equivocation is already recorded.
	ErrDuplicateEvidence = errors.New("evidence already recorded")
)

// Errors of readings (data lane).
var (
	// ErrBadReading: the reading fails chain.Reading.ValidateBasic.
	ErrBadReading = errors.New("malformed reading")
	// ErrReplayedSeq: the sequence number is not above the last recorded.
	ErrReplayedSeq = errors.New("replayed sequence number")
	// ErrTimeOutsideWindow: the reading's time is too far from the block's.
	ErrTimeOutsideWindow = errors.New("reading time outside window")
	// ErrTimeNotIncreasing: the reading's time is not after the device's
	// last recorded reading.
	ErrTimeNotIncreasing = errors.New("reading time not increasing")
	// ErrAnchorAhead: the anchor names a tx height this state has not
	// reached.
	ErrAnchorAhead = errors.New("anchor ahead of tx state")
)

// Errors of blocks and state.
var (
	// ErrBadGenesis: the genesis input is invalid.
	ErrBadGenesis = errors.New("invalid genesis")
	// ErrBadHeader: the header does not follow the state (height, time,
	// chain id, lane, anchor).
	ErrBadHeader = errors.New("header does not follow state")
	// ErrBadBlock: an entry of the block does not apply; the block is
	// invalid.
	ErrBadBlock = errors.New("invalid block")
	// ErrStateRootMismatch: the state root computed here differs from the
	// one the header commits to. A node must stop rather than vote.
	ErrStateRootMismatch = errors.New("state root mismatch")
	// ErrCorruptState: a stored record does not decode or breaks an
	// invariant.
	ErrCorruptState = errors.New("corrupt state")
	// ErrNoSuchPeriod: a query names a period not yet settled or a label
	// that is not a period of this chain.
	ErrNoSuchPeriod = errors.New("no such period")
)
