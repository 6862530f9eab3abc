package chain

import (
	"fmt"
)

// MaxValidators bounds the validator set.
const MaxValidators = 128

// ValidatorSet is the ordered list of validator node keys, one vote each.
// The order is the round-robin proposer order. A ValidatorSet is immutable
// once built.
type ValidatorSet struct {
	keys  []PubKey
	index map[PubKey]int
	hash  Hash
}

// NewValidatorSet builds a set from keys in proposer order. Keys must be
// distinct and non-zero.
func NewValidatorSet(keys []PubKey) (*ValidatorSet, error) {
	if len(keys) == 0 {
		return nil, fieldErr("validators", "empty set")
	}
	if len(keys) > MaxValidators {
		return nil, fieldErr("validators", "%d validators exceed the limit of %d", len(keys), MaxValidators)
	}
	vs := &ValidatorSet{keys: append([]PubKey(nil), keys...), index: make(map[PubKey]int, len(keys))}
	for i, k := range vs.keys {
		if k.IsZero() {
			return nil, fieldErr(fmt.Sprintf("validators[%d]", i), "zero key")
		}
		if j, dup := vs.index[k]; dup {
			return nil, fieldErr(fmt.Sprintf("validators[%d]", i), "same key as validators[%d]", j)
		}
		vs.index[k] = i
	}
	vs.hash = HashBytes(MustEncode(vs.keys))
	return vs, nil
}

// Size is the number of validators n.
func (vs *ValidatorSet) Size() int { return len(vs.keys) }

// Keys returns a copy of the keys in proposer order.
func (vs *ValidatorSet) Keys() []PubKey { return append([]PubKey(nil), vs.keys...) }

// Key returns the i-th key.
func (vs *ValidatorSet) Key(i int) PubKey { return vs.keys[i] }

// Index returns the position of k, or -1 when k is not a validator.
func (vs *ValidatorSet) Index(k PubKey) int {
	if i, ok := vs.index[k]; ok {
		return i
	}
	return -1
}

// Has reports whether k is a validator.
func (vs *ValidatorSet) Has(k PubKey) bool { _, ok := vs.index[k]; return ok }

// Hash commits to the keys and their order; headers name it.
func (vs *ValidatorSet) Hash() Hash { return vs.hash }

// Quorum is the number of votes that is more than two thirds: ⌊2n/3⌋+1.
func (vs *ValidatorSet) Quorum() int { return Quorum(len(vs.keys)) }

// MaxFaulty is f, the number of faulty validators tolerated: n-Quorum. f+1
// messages from a round prove at least one honest validator is in it.
func (vs *ValidatorSet) MaxFaulty() int { return len(vs.keys) - vs.Quorum() }

// Proposer is the round-robin proposer of (height, round):
// validators[(height + round) mod n].
func (vs *ValidatorSet) Proposer(height uint64, round uint32) PubKey {
	n := uint64(len(vs.keys))
	return vs.keys[(height%n+uint64(round)%n)%n]
}

// Quorum is ⌊2n/3⌋+1, more than two thirds of n.
func Quorum(n int) int { return 2*n/3 + 1 }
