package ingest

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

const testChainID = "waterchain-test"

// testKey is a deterministic device key.
func testKey(t testing.TB, name string) *chain.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("ingest-test/" + name))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedReading is a valid signed reading of key with sequence seq.
func signedReading(t testing.TB, key *chain.PrivateKey, seq uint64) *chain.Reading {
	t.Helper()
	r := &chain.Reading{
		Device:          key.Public(),
		Seq:             seq,
		Time:            chain.Time(1_764_410_400_000 + int64(seq)*3_600_000),
		FlowRate:        12_500_000,
		Volume:          12_500_000,
		VolumeTotal:     905_250_000 + int64(seq)*12_500_000,
		Conductivity:    8_500,
		SuspendedSolids: 250,
		Absorbance:      120,
		Turbidity:       450,
	}
	r.Sign(testChainID, key)
	return r
}

func sameReadings(t *testing.T, got, want []*chain.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Encode(), want[i].Encode()) {
			t.Fatalf("reading %d differs:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
