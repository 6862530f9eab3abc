package consensus

import (
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// WAL is the engine's durable memory of its own signatures: every proposal
// and vote it signs is appended, and durable, before the engine hands it to
// the driver to send. On restart the engine replays it, so a validator that
// crashes never signs two different things for one height, round and step.
//
// An implementation must refuse (with ErrDoubleSign) to append a record
// that conflicts with its last-signed record: one at an earlier height,
// round or step, or at the same ones for a different block. Prune must keep
// the last record, so the last-signed record survives it.
//
// A WAL is used by one goroutine at a time: the one driving the engine.
type WAL interface {
	// Records returns every record kept, oldest first.
	Records() ([]*Record, error)
	// Append makes rec durable (for a file: written and fsynced) before it
	// returns nil.
	Append(rec *Record) error
	// Prune drops records below height, keeping the last record.
	Prune(height uint64) error
}

// Record is one signed message of the engine: exactly one of Proposal and
// Vote. A precommit for a block carries that block in Block, the value the
// engine locked on, and in POL the prevotes that made it lock; a
// re-proposal carries in POL the prevotes of its proof-of-lock round. After
// a restart the engine can then re-propose its locked block with a proof
// others can check: without it, validators locked in different rounds
// could wait for each other for ever.
type Record struct {
	Proposal *chain.Proposal `cbor:"1,keyasint,omitempty"`
	Vote     *chain.Vote     `cbor:"2,keyasint,omitempty"`
	Block    *chain.Block    `cbor:"3,keyasint,omitempty"`
	POL      []*chain.Vote   `cbor:"4,keyasint,omitempty"`
}

// Validate checks the shape of rec: one message, well formed, and a Block
// only beside a precommit for it.
func (rec *Record) Validate() error {
	switch {
	case (rec.Proposal == nil) == (rec.Vote == nil):
		return fmt.Errorf("record: want exactly one of proposal and vote")
	case rec.Proposal != nil:
		if err := rec.Proposal.ValidateBasic(); err != nil {
			return fmt.Errorf("record: proposal: %w", err)
		}
		if rec.Block != nil {
			return fmt.Errorf("record: a proposal record carries no separate block")
		}
		if len(rec.POL) > 0 && rec.Proposal.POLRound < 0 {
			return fmt.Errorf("record: a proof of lock for a proposal without one")
		}
	default:
		if err := rec.Vote.ValidateBasic(); err != nil {
			return fmt.Errorf("record: vote: %w", err)
		}
		if rec.Block != nil {
			if rec.Vote.Type != chain.Precommit || rec.Block.Hash() != rec.Vote.BlockHash {
				return fmt.Errorf("record: block %s does not match %s", rec.Block.Hash().Short(), rec.Vote)
			}
			if err := rec.Block.ValidateBasic(); err != nil {
				return fmt.Errorf("record: block: %w", err)
			}
		} else if len(rec.POL) > 0 {
			return fmt.Errorf("record: a proof of lock without its block")
		}
	}
	if len(rec.POL) > chain.MaxValidators {
		return fmt.Errorf("record: proof of lock of %d votes exceeds %d", len(rec.POL), chain.MaxValidators)
	}
	pos := rec.Position()
	polRound := pos.Round
	if rec.Proposal != nil {
		polRound = uint32(max(rec.Proposal.POLRound, 0))
	}
	for i, v := range rec.POL {
		if v == nil {
			return fmt.Errorf("record: pol[%d]: null", i)
		}
		if err := v.ValidateBasic(); err != nil {
			return fmt.Errorf("record: pol[%d]: %w", i, err)
		}
		if v.Type != chain.Prevote || v.Lane != pos.Lane || v.Height != pos.Height || v.Round != polRound || v.BlockHash != pos.BlockHash {
			return fmt.Errorf("record: pol[%d] %s does not prove a lock on %s in round %d", i, v, pos.BlockHash.Short(), polRound)
		}
	}
	return nil
}

// Signed is where a signature sits in a validator's sequence of
// signatures, and what it signed: the last-signed record.
type Signed struct {
	Lane      chain.Lane
	Height    uint64
	Round     uint32
	Step      Step
	BlockHash chain.Hash // zero for a nil vote
}

// Position returns where rec's message sits. rec must pass Validate.
func (rec *Record) Position() Signed {
	if p := rec.Proposal; p != nil {
		return Signed{Lane: p.Lane, Height: p.Height, Round: p.Round, Step: StepPropose, BlockHash: p.Block.Hash()}
	}
	v := rec.Vote
	return Signed{Lane: v.Lane, Height: v.Height, Round: v.Round, Step: stepOfVote(v.Type), BlockHash: v.BlockHash}
}

// compare orders positions by height, round, then step.
func (s Signed) compare(o Signed) int {
	switch {
	case s.Height != o.Height:
		return cmp(s.Height, o.Height)
	case s.Round != o.Round:
		return cmp(uint64(s.Round), uint64(o.Round))
	default:
		return cmp(uint64(s.Step), uint64(o.Step))
	}
}

func cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s Signed) String() string {
	target := "nil"
	if !s.BlockHash.IsZero() {
		target = s.BlockHash.Short()
	}
	return fmt.Sprintf("%s %s/%d/%d %s", s.Step, s.Lane, s.Height, s.Round, target)
}

// checkSign is the last-signed guard shared by the WAL implementations. It
// returns (false, nil) to append next, (true, nil) when next repeats last
// exactly (nothing to write), and ErrDoubleSign when next conflicts.
func checkSign(last *Signed, next Signed) (repeat bool, err error) {
	if last == nil {
		return false, nil
	}
	if next.Lane != last.Lane {
		return false, fmt.Errorf("%w: %s is for another lane than the log's last record %s", ErrDoubleSign, next, *last)
	}
	switch c := next.compare(*last); {
	case c > 0:
		return false, nil
	case c < 0:
		return false, fmt.Errorf("%w: %s comes before the last signed %s", ErrDoubleSign, next, *last)
	case next.BlockHash != last.BlockHash:
		return false, fmt.Errorf("%w: %s, already signed %s", ErrDoubleSign, next, *last)
	}
	return true, nil
}

// MemWAL is a WAL in memory, for tests and simulations: it survives an
// engine's "crash" as long as the value is kept, and enforces the same
// last-signed guard as the file-backed one.
type MemWAL struct {
	records []*Record
	last    *Signed
}

var _ WAL = (*MemWAL)(nil)

// NewMemWAL returns an empty in-memory WAL.
func NewMemWAL() *MemWAL { return &MemWAL{} }

// Records returns the records kept, oldest first.
func (w *MemWAL) Records() ([]*Record, error) {
	return append([]*Record(nil), w.records...), nil
}

// Append keeps rec unless it repeats or conflicts with the last record.
func (w *MemWAL) Append(rec *Record) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	pos := rec.Position()
	repeat, err := checkSign(w.last, pos)
	if err != nil || repeat {
		return err
	}
	w.records = append(w.records, rec)
	w.last = &pos
	return nil
}

// Prune drops records below height, keeping the last.
func (w *MemWAL) Prune(height uint64) error {
	w.records = pruneRecords(w.records, height)
	return nil
}

// LastSigned returns the last-signed record, if any.
func (w *MemWAL) LastSigned() (Signed, bool) {
	if w.last == nil {
		return Signed{}, false
	}
	return *w.last, true
}

func pruneRecords(recs []*Record, height uint64) []*Record {
	if len(recs) == 0 {
		return recs
	}
	out := make([]*Record, 0, len(recs))
	for i, r := range recs {
		if r.Position().Height >= height || i == len(recs)-1 {
			out = append(out, r)
		}
	}
	return out
}
