package chain

import (
	"crypto/sha256"
	"testing"
)

const testChainID = "waterchain-test"

// testKey derives a deterministic key from a label.
func testKey(t testing.TB, label string) *PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	k, err := NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func validReading(t testing.TB, seq uint64) *Reading {
	dev := testKey(t, "device-1")
	r := &Reading{
		Device: dev.Public(), Seq: seq, Time: 1_764_000_000_000 + Time(seq)*3_600_000,
		FlowRate: 12_500_000, Volume: 12_500_000, VolumeTotal: 900_000_000 + int64(seq)*12_500_000,
		Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
	}
	r.Sign(testChainID, dev)
	return r
}

func validTx(t testing.TB, nonce uint64) *Tx {
	from := testKey(t, "industry-1")
	tx := &Tx{From: from.Public(), Nonce: nonce, Transfer: &Transfer{To: testKey(t, "industry-2").Public().Address(), Amount: 5 * DropUnit}}
	tx.Sign(testChainID, from)
	return tx
}

func validVote(t testing.TB, typ VoteType, validator string, block Hash) *Vote {
	k := testKey(t, validator)
	v := &Vote{Type: typ, Lane: LaneData, Height: 7, Round: 1, BlockHash: block, Validator: k.Public()}
	v.Sign(testChainID, k)
	return v
}

// testValidators returns n validator keys and their set.
func testValidators(t testing.TB, n int) ([]*PrivateKey, *ValidatorSet) {
	keys := make([]*PrivateKey, n)
	pubs := make([]PubKey, n)
	for i := range keys {
		keys[i] = testKey(t, "validator-"+string(rune('a'+i)))
		pubs[i] = keys[i].Public()
	}
	vs, err := NewValidatorSet(pubs)
	if err != nil {
		t.Fatal(err)
	}
	return keys, vs
}

// validBlock returns a data block at height 1 over genesis, with a
// certificate signed by all validators.
func validBlock(t testing.TB, readings int) (*Block, *ValidatorSet, Hash) {
	keys, vs := testValidators(t, 4)
	genesis := HashBytes([]byte("genesis"))
	b := &Block{Header: Header{
		ChainID: testChainID, Lane: LaneData, Height: 1, Time: 1_764_000_000_000,
		PrevHash: genesis, StateRoot: HashBytes([]byte("state")),
		Anchor: Anchor{Height: 0, Hash: genesis}, ValidatorsHash: vs.Hash(), Proposer: vs.Proposer(1, 0),
	}}
	for i := 0; i < readings; i++ {
		b.Readings = append(b.Readings, validReading(t, uint64(i+1)))
	}
	b.Header.NumEntries = uint32(len(b.Readings))
	b.Header.EntriesRoot = b.ComputeEntriesRoot()
	var votes []*Vote
	for _, k := range keys {
		v := &Vote{Type: Precommit, Lane: LaneData, Height: 1, BlockHash: b.Hash(), Validator: k.Public()}
		v.Sign(testChainID, k)
		votes = append(votes, v)
	}
	cert, err := NewCertificate(vs, votes)
	if err != nil {
		t.Fatal(err)
	}
	return b.WithCert(cert), vs, genesis
}
