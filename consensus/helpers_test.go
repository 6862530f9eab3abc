package consensus

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

const testChainID = "waterchain-test"

var (
	genesisHash = chain.HashBytes([]byte("genesis"))
	genesisTime = chain.Time(1_764_000_000_000)
	emptyRoot   = chain.MerkleRoot(nil)
	// invalidRoot marks a block the simulated driver rejects.
	invalidRoot  = chain.HashBytes([]byte("invalid state"))
	testTimeouts = Timeouts{Propose: 300 * time.Millisecond, Prevote: 150 * time.Millisecond, Precommit: 150 * time.Millisecond, Delta: 100 * time.Millisecond}
)

// testKey derives a deterministic key from a label.
func testKey(t testing.TB, label string) *chain.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testValidators returns n keys and their set, in set order.
func testValidators(t testing.TB, n int, prefix string) ([]*chain.PrivateKey, *chain.ValidatorSet) {
	t.Helper()
	keys := make([]*chain.PrivateKey, n)
	pubs := make([]chain.PubKey, n)
	for i := range keys {
		keys[i] = testKey(t, fmt.Sprintf("%s-%d", prefix, i))
		pubs[i] = keys[i].Public()
	}
	vs, err := chain.NewValidatorSet(pubs)
	if err != nil {
		t.Fatal(err)
	}
	return keys, vs
}

// makeBlock builds an empty tx block; salt tells blocks of one height
// apart.
func makeBlock(vs *chain.ValidatorSet, height uint64, proposer chain.PubKey, prev chain.Hash, tm chain.Time, salt string) *chain.Block {
	return &chain.Block{Header: chain.Header{
		ChainID: testChainID, Lane: chain.LaneTx, Height: height, Time: tm,
		PrevHash: prev, EntriesRoot: emptyRoot, StateRoot: chain.HashBytes([]byte(salt)),
		Anchor: chain.Anchor{Height: 0, Hash: genesisHash}, ValidatorsHash: vs.Hash(), Proposer: proposer,
	}}
}

func signedVote(key *chain.PrivateKey, typ chain.VoteType, height uint64, round uint32, hash chain.Hash) *chain.Vote {
	v := &chain.Vote{Type: typ, Lane: chain.LaneTx, Height: height, Round: round, BlockHash: hash, Validator: key.Public()}
	v.Sign(testChainID, key)
	return v
}

func fixedSets(vs *chain.ValidatorSet) ValidatorSetFunc {
	return func(uint64) (*chain.ValidatorSet, error) { return vs, nil }
}
