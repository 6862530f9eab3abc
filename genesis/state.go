package genesis

import (
	"fmt"

	"github.com/waterchain/waterchain/chain/state"
)

// State returns what the state machine needs of g: the genesis both
// chains are executed from. Every node and auditor takes it from here, so
// they start from the same state. It fails when g breaks a rule of the
// state machine (which Validate also reports, with the fix).
func (g *Genesis) State() (*state.Genesis, error) {
	if g == nil {
		return nil, fmt.Errorf("genesis: missing")
	}
	sg := &state.Genesis{ChainID: g.ChainID, GenesisTime: g.GenesisTime, Params: g.Params}
	for _, v := range g.Validators {
		sg.Validators = append(sg.Validators, v.NodeKey)
	}
	for _, r := range g.Regulators {
		sg.Regulators = append(sg.Regulators, r.Account)
	}
	for _, ind := range g.Industries {
		gi := state.GenesisIndustry{
			Name: ind.Name, Account: ind.Account, Balance: ind.Balance,
			Allowance: ind.Permit.Allowance, Limits: ind.Permit.Limits,
		}
		for _, d := range ind.Devices {
			gi.Devices = append(gi.Devices, state.GenesisDevice{Key: d.Key, Label: d.Label})
		}
		sg.Industries = append(sg.Industries, gi)
	}
	if err := sg.Validate(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return sg, nil
}
