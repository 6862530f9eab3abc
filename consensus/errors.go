package consensus

import "errors"

// Errors returned by the engine and the write-ahead log. They are wrapped
// with %w by errors that name the values involved; test with errors.Is.
var (
	// ErrInvalidMessage is returned by Step for a message that is provably
	// invalid whatever the engine's state: malformed, for another lane or
	// chain, from a non-member, from the wrong proposer, badly signed. A
	// driver may penalise the peer that relayed it.
	ErrInvalidMessage = errors.New("invalid consensus message")
	// ErrStale is returned by Step for a message the engine ignores without
	// blame: a past height, a duplicate, a round too far ahead, a full
	// buffer. A driver should neither relay nor penalise it.
	ErrStale = errors.New("stale consensus message")
	// ErrBadConfig is returned by NewEngine for a Config that fails Validate.
	ErrBadConfig = errors.New("bad consensus config")
	// ErrBadHeight is returned by Start for a height that does not move the
	// engine forward.
	ErrBadHeight = errors.New("bad start height")
	// ErrNoValidatorSet is returned by Start when Config.ValidatorSetFor
	// cannot name the set of the height.
	ErrNoValidatorSet = errors.New("no validator set for height")
	// ErrBadBlock is returned by Propose for a block that the engine cannot
	// propose at its height and round.
	ErrBadBlock = errors.New("block cannot be proposed")
	// ErrHalted is returned by every input once the engine has stopped
	// because its write-ahead log failed; the node must stop.
	ErrHalted = errors.New("consensus engine halted")
	// ErrDoubleSign is returned by a WAL asked to record a signature that
	// conflicts with one it recorded before.
	ErrDoubleSign = errors.New("refusing to sign: conflicts with an earlier signature")
	// ErrWALCorrupt is returned by OpenWAL for a log damaged other than by a
	// torn last record.
	ErrWALCorrupt = errors.New("write-ahead log corrupt")
	// ErrWALClosed is returned by a FileWAL used after Close or after a
	// failed write.
	ErrWALClosed = errors.New("write-ahead log closed")
)
