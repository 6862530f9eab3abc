package consensus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// Defaults used by Config.withDefaults for zero fields.
const (
	// DefaultMaxBuffered bounds the messages held for heights the engine
	// has not reached.
	DefaultMaxBuffered = 4096
	// DefaultRoundWindow is how many rounds ahead of its own the engine
	// stores messages. Messages further ahead still count towards the f+1
	// round skip (line 55), which only needs each sender's highest round.
	DefaultRoundWindow = 8
	// DefaultHeightWindow is how many heights ahead the engine buffers.
	DefaultHeightWindow = 2
	// maxBufferedPerSender keeps one sender from filling the buffer.
	maxBufferedPerSender = 128
)

// Timeouts are the round timeouts: each kind lasts its base plus
// round·Delta, growing linearly so that validators that fell out of step
// meet again without the runaway waits of doubling timers.
type Timeouts struct {
	Propose   time.Duration
	Prevote   time.Duration
	Precommit time.Duration
	Delta     time.Duration
}

// TimeoutsFromParams takes the genesis parameters: propose waits
// TimeoutPropose, the vote steps wait half of it (they wait only for the
// stragglers of a quorum already seen), and every round adds TimeoutDelta
// to each.
func TimeoutsFromParams(p *chain.Params) Timeouts {
	base := p.TimeoutPropose.Std()
	return Timeouts{Propose: base, Prevote: base / 2, Precommit: base / 2, Delta: p.TimeoutDelta.Std()}
}

// maxTimeout caps a timeout so that base + round·delta never overflows.
const maxTimeout = 24 * time.Hour

// Duration is the timeout of kind in round: base + round·Delta, at most a
// day.
func (t Timeouts) Duration(kind TimeoutKind, round uint32) time.Duration {
	var base time.Duration
	switch kind {
	case TimeoutPropose:
		base = t.Propose
	case TimeoutPrevote:
		base = t.Prevote
	default:
		base = t.Precommit
	}
	if t.Delta > 0 && time.Duration(round) > (maxTimeout-base)/t.Delta {
		return maxTimeout
	}
	d := base + time.Duration(round)*t.Delta
	if d > maxTimeout {
		return maxTimeout
	}
	return d
}

// ValidatorSetFunc returns the validator set that must sign the blocks of
// a height. The driver owns validator-set changes (DESIGN.md: a change
// approved in tx block H signs from H+2), so it must answer the same for a
// height on every node and for as long as the engine runs; it may fail for
// a height it cannot know yet.
type ValidatorSetFunc func(height uint64) (*chain.ValidatorSet, error)

// Config configures one engine, which runs one lane.
type Config struct {
	// ChainID is the network's chain id, signed into every message.
	ChainID string
	// Lane is the lane this engine finalizes.
	Lane chain.Lane
	// Key signs the engine's proposals and votes. Nil makes the engine a
	// non-voting observer (an auditor): it follows the votes and reports
	// committed blocks but never signs.
	Key *chain.PrivateKey
	// ValidatorSetFor names the set of each height; required.
	ValidatorSetFor ValidatorSetFunc
	// Timeouts are the round timeouts; all three bases must be positive.
	Timeouts Timeouts
	// WAL records every signature before it is sent; required with Key.
	WAL WAL
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// VerifyVoteSignatures makes Step verify each vote's signature. Leave
	// it false when the driver verifies every vote once at the gossip
	// door, as it should. Proposals are always verified by the engine,
	// since only it knows who proposes a round (see VerifyProposal).
	VerifyVoteSignatures bool
	// MaxBuffered bounds the messages held for future heights
	// (DefaultMaxBuffered when zero).
	MaxBuffered int
	// RoundWindow is how many rounds ahead messages are stored
	// (DefaultRoundWindow when zero).
	RoundWindow uint32
	// HeightWindow is how many heights ahead messages are buffered
	// (DefaultHeightWindow when zero).
	HeightWindow uint64

	// breakLock breaks one lock rule, for the mutation tests only.
	breakLock lockBreak
	// nilAtFirstTimeout prevotes nil when the propose timeout expires
	// even while the round's proposal is being validated (line 57 as the
	// paper writes it, with its instant valid(v)), for
	// TestLateValidationDecidesInRoundZero only.
	nilAtFirstTimeout bool
}

// Validate checks c and names the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.ChainID == "":
		return fmt.Errorf("%w: ChainID: missing", ErrBadConfig)
	case len(c.ChainID) > chain.MaxChainIDLen:
		return fmt.Errorf("%w: ChainID: %d bytes exceed %d", ErrBadConfig, len(c.ChainID), chain.MaxChainIDLen)
	case !c.Lane.Valid():
		return fmt.Errorf("%w: Lane: unknown lane %d", ErrBadConfig, c.Lane)
	case c.ValidatorSetFor == nil:
		return fmt.Errorf("%w: ValidatorSetFor: missing", ErrBadConfig)
	case c.Timeouts.Propose <= 0 || c.Timeouts.Prevote <= 0 || c.Timeouts.Precommit <= 0:
		return fmt.Errorf("%w: Timeouts: bases must be positive, got propose %s prevote %s precommit %s",
			ErrBadConfig, c.Timeouts.Propose, c.Timeouts.Prevote, c.Timeouts.Precommit)
	case c.Timeouts.Delta < 0:
		return fmt.Errorf("%w: Timeouts.Delta: %s is negative", ErrBadConfig, c.Timeouts.Delta)
	case c.Key != nil && c.WAL == nil:
		return fmt.Errorf("%w: WAL: a validator (Key set) needs a write-ahead log", ErrBadConfig)
	case c.MaxBuffered < 0:
		return fmt.Errorf("%w: MaxBuffered: %d is negative", ErrBadConfig, c.MaxBuffered)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBuffered == 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	if c.RoundWindow == 0 {
		c.RoundWindow = DefaultRoundWindow
	}
	if c.HeightWindow == 0 {
		c.HeightWindow = DefaultHeightWindow
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
