package node

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/genesis"
)

// countingReader counts the state reads that go through it.
type countingReader struct {
	state.Reader
	gets int
}

func (r *countingReader) Get(key []byte) ([]byte, error) {
	r.gets++
	return r.Reader.Get(key)
}

// TestOwnerCache checks the alert rules' device owners: read once from the
// state and then remembered, and a device without a record not remembered,
// so that its registration later is seen.
func TestOwnerCache(t *testing.T) {
	key := func() chain.PubKey {
		k, err := chain.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		return k.Public()
	}
	industry, meter, later, validator := key(), key(), key(), key()
	stateWith := func(devices ...chain.PubKey) *state.Cache {
		g := &state.Genesis{ChainID: "owners", GenesisTime: chain.TimeOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), Params: genesis.DevnetParams(), Validators: []chain.PubKey{validator}, Industries: []state.GenesisIndustry{{Name: "mill", Account: industry}}}
		for _, d := range devices {
			g.Industries[0].Devices = append(g.Industries[0].Devices, state.GenesisDevice{Key: d})
		}
		changes, err := state.GenesisChanges(g)
		if err != nil {
			t.Fatal(err)
		}
		c := state.NewCache()
		c.Apply(changes)
		return c
	}
	var owners ownerCache
	r := &countingReader{Reader: stateWith(meter)}
	for i := range 3 {
		owner, ok := owners.get(r, meter)
		if !ok || owner != industry.Address() {
			t.Fatalf("lookup %d: owner %v, %v; want %v", i, owner, ok, industry.Address())
		}
	}
	if r.gets == 0 {
		t.Fatal("the owner was never read from the state")
	}
	first := r.gets
	if _, ok := owners.get(r, meter); !ok || r.gets != first {
		t.Errorf("a known owner was read again: %d state reads, then %d", first, r.gets)
	}
	if _, ok := owners.get(r, later); ok {
		t.Fatal("an unregistered device has an owner")
	}
	// The device is registered later: its owner is found.
	if owner, ok := owners.get(stateWith(meter, later), later); !ok || owner != industry.Address() {
		t.Errorf("a device registered after a lookup found it absent: owner %v, %v", owner, ok)
	}
}
