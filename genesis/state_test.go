package genesis

import (
	"testing"

	"github.com/waterchain/waterchain/chain/state"
)

// TestStateOfValidGenesis: what Validate accepts, the state machine
// accepts, with the validators in genesis order (the proposer order), the
// regulators, and each industry's permit and meters.
func TestStateOfValidGenesis(t *testing.T) {
	g := validGenesis(t)
	sg, err := g.State()
	if err != nil {
		t.Fatal(err)
	}
	if sg.ChainID != g.ChainID || sg.GenesisTime != g.GenesisTime || sg.Params != g.Params {
		t.Fatalf("state genesis %s at %s, want %s at %s with the same params", sg.ChainID, sg.GenesisTime, g.ChainID, g.GenesisTime)
	}
	if len(sg.Validators) != len(g.Validators) || len(sg.Regulators) != len(g.Regulators) || len(sg.Industries) != len(g.Industries) {
		t.Fatalf("state genesis has %d validators, %d regulators, %d industries; want %d, %d, %d",
			len(sg.Validators), len(sg.Regulators), len(sg.Industries), len(g.Validators), len(g.Regulators), len(g.Industries))
	}
	for i, v := range g.Validators {
		if sg.Validators[i] != v.NodeKey {
			t.Errorf("validators[%d] is %s, want %s", i, sg.Validators[i].Short(), v.NodeKey.Short())
		}
	}
	for i, ind := range g.Industries {
		si := sg.Industries[i]
		if si.Name != ind.Name || si.Account != ind.Account || si.Balance != ind.Balance || si.Allowance != ind.Permit.Allowance || si.Limits != ind.Permit.Limits || len(si.Devices) != len(ind.Devices) {
			t.Errorf("industries[%d] is %+v, want %+v", i, si, ind)
		}
	}
	if _, err := state.GenesisChanges(sg); err != nil {
		t.Fatalf("the state machine refuses it: %v", err)
	}
	var missing *Genesis
	if _, err := missing.State(); err == nil {
		t.Fatal("a missing genesis converted")
	}
}
