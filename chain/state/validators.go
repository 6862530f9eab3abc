package state

import (
	"errors"
	"fmt"
	"sort"

	"github.com/waterchain/waterchain/chain"
)

// Validator-set governance. A change (add or remove one node key) is
// approved in the tx block H whose transaction brings the votes of the
// validators of ValidatorSetAt(H) for it to that set's quorum (more than two
// thirds); the new set signs tx heights from H+2 on. Every set is kept as a
// ValidatorSetRecord keyed by its first height, so ValidatorSetAt answers
// for any height and the record for a height A is final once the tx chain
// has executed A-2.

var errStop = errors.New("stop")

// ValidatorSetAt returns the validator set that signs tx block txHeight
// (and data blocks anchored at txHeight). r must hold tx state of height at
// least txHeight-2.
func ValidatorSetAt(r Reader, txHeight uint64) (*chain.ValidatorSet, error) {
	rec, err := validatorRecordAt(r, txHeight)
	if err != nil {
		return nil, err
	}
	vs, err := chain.NewValidatorSet(rec.Keys)
	if err != nil {
		return nil, fmt.Errorf("%w: validator set from height %d: %v", ErrCorruptState, rec.From, err)
	}
	return vs, nil
}

// ValidatorSetHistory returns every validator-set record, by first height.
func ValidatorSetHistory(r Reader) ([]ValidatorSetRecord, error) {
	return recordsUnder[ValidatorSetRecord](r, []byte(pfxValidatorSet))
}

// validatorRecordAt is the last record whose first height is ≤ txHeight.
func validatorRecordAt(r Reader, txHeight uint64) (*ValidatorSetRecord, error) {
	rec, err := versionAt[ValidatorSetRecord](r, []byte(pfxValidatorSet), txHeight)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: no validator set recorded", ErrCorruptState)
	}
	return rec, nil
}

// latestValidatorRecord is the last record, which may take effect in the
// future: the base every newly approved change applies to.
func latestValidatorRecord(r Reader) (*ValidatorSetRecord, error) {
	return validatorRecordAt(r, ^uint64(0))
}

// wasValidator reports whether k is in any validator set in force at or
// before height (or already scheduled).
func wasValidator(r Reader, k chain.PubKey, height uint64) (bool, error) {
	was := false
	err := r.Iterate([]byte(pfxValidatorSet), func(key, value []byte) error {
		var rec ValidatorSetRecord
		if err := decodeRecord(value, &rec); err != nil {
			return err
		}
		for _, v := range rec.Keys {
			if v == k {
				was = true
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, err
	}
	return was, nil
}

func changeID(ch *chain.ValidatorChange) chain.Hash {
	return chain.HashBytes(chain.MustEncode(ch))
}

func describeChange(ch *chain.ValidatorChange) string {
	if ch.Remove {
		return "remove validator " + shortKey(ch.Validator)
	}
	return "add validator " + shortKey(ch.Validator)
}

func (c *txCtx) validatorChange(ch *chain.ValidatorChange) error {
	current, err := ValidatorSetAt(c.o, c.v.height)
	if err != nil {
		return err
	}
	if !current.Has(c.tx.From) {
		return fmt.Errorf("%w: %s voted to %s but is not a validator at tx height %d; only validators vote on the set", ErrNotValidator, shortKey(c.tx.From), describeChange(ch), c.v.height)
	}
	latest, err := latestValidatorRecord(c.o)
	if err != nil {
		return err
	}
	in := false
	for _, k := range latest.Keys {
		if k == ch.Validator {
			in = true
		}
	}
	switch {
	case !ch.Remove && in:
		return fmt.Errorf("%w: %s is already a validator (from tx height %d)", ErrBadValidatorChange, shortKey(ch.Validator), latest.From)
	case !ch.Remove && len(latest.Keys) >= chain.MaxValidators:
		return fmt.Errorf("%w: the set already has the maximum of %d validators", ErrBadValidatorChange, chain.MaxValidators)
	case ch.Remove && !in:
		return fmt.Errorf("%w: %s is not a validator (as of tx height %d)", ErrBadValidatorChange, shortKey(ch.Validator), latest.From)
	case ch.Remove && len(latest.Keys) == 1:
		return fmt.Errorf("%w: %s is the last validator; the set cannot be empty", ErrBadValidatorChange, shortKey(ch.Validator))
	}

	id := changeID(ch)
	votes := ValidatorVotes{Change: *ch}
	if _, err := getRecord(c.o, validatorVoteKey(id), &votes); err != nil {
		return err
	}
	i := sort.Search(len(votes.Voters), func(i int) bool { return string(votes.Voters[i][:]) >= string(c.tx.From[:]) })
	if i < len(votes.Voters) && votes.Voters[i] == c.tx.From {
		return fmt.Errorf("%w: %s already voted to %s", ErrDuplicateVote, shortKey(c.tx.From), describeChange(ch))
	}
	votes.Voters = append(votes.Voters, chain.PubKey{})
	copy(votes.Voters[i+1:], votes.Voters[i:])
	votes.Voters[i] = c.tx.From

	n := 0
	for _, v := range votes.Voters {
		if current.Has(v) {
			n++
		}
	}
	if n < current.Quorum() {
		putRecord(c.o, validatorVoteKey(id), &votes)
		return nil
	}

	// Approved: the set signing from height+2 on is the latest one with the
	// change applied.
	var keys []chain.PubKey
	for _, k := range latest.Keys {
		if k != ch.Validator {
			keys = append(keys, k)
		}
	}
	if !ch.Remove {
		keys = append(keys, ch.Validator)
	}
	from := c.v.height + 2
	next := ValidatorSetRecord{From: from, Keys: keys, ApprovedHeight: c.v.height, Changes: []chain.ValidatorChange{*ch}}
	if latest.From == from { // another change approved in this block
		next.Changes = append(append([]chain.ValidatorChange(nil), latest.Changes...), *ch)
	}
	putRecord(c.o, validatorSetKey(from), &next)
	c.o.del(validatorVoteKey(id))
	return nil
}

// PendingValidatorVotes lists the changes voted for but not yet approved.
func PendingValidatorVotes(r Reader) ([]ValidatorVotes, error) {
	var out []ValidatorVotes
	err := r.Iterate([]byte(pfxValidatorVote), func(key, value []byte) error {
		var v ValidatorVotes
		if err := decodeRecord(value, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}
