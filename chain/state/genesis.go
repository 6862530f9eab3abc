package state

import (
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// Genesis is what the state machine needs of the genesis file. The genesis
// package fills it; GenesisChanges turns it into the state at height 0.
type Genesis struct {
	ChainID     string       `json:"chain_id"`
	GenesisTime chain.Time   `json:"genesis_time"`
	Params      chain.Params `json:"params"`
	// Validators are the node keys of the genesis validator set, in
	// proposer order.
	Validators []chain.PubKey `json:"validators"`
	// Regulators are account public keys allowed to set permits and revoke
	// any device.
	Regulators []chain.PubKey    `json:"regulators"`
	Industries []GenesisIndustry `json:"industries"`
	// Accounts are other funded accounts (not industries).
	Accounts []GenesisAccount `json:"accounts,omitempty"`
}

// GenesisIndustry is an industry as genesis names it, with its first
// permit (in force from period 0) and its meters registered at height 0.
type GenesisIndustry struct {
	Name      string          `json:"name"`
	Account   chain.PubKey    `json:"account"`
	Balance   uint64          `json:"balance"`
	Allowance uint64          `json:"allowance"`
	Limits    chain.Limits    `json:"limits"`
	Devices   []GenesisDevice `json:"devices,omitempty"`
}

// GenesisDevice is a meter registered in genesis.
type GenesisDevice struct {
	Key   chain.PubKey `json:"key"`
	Label string       `json:"label,omitempty"`
}

// GenesisAccount is a funded account that is not an industry.
type GenesisAccount struct {
	Address chain.Address `json:"address"`
	Balance uint64        `json:"balance"`
}

// Period returns the settlement periods of the chain.
func (g *Genesis) Period() (chain.Period, error) {
	return periodOf(g.GenesisTime, &g.Params)
}

func periodOf(genesis chain.Time, p *chain.Params) (chain.Period, error) {
	length, err := p.PeriodLength()
	if err != nil {
		return chain.Period{}, err
	}
	return chain.Period{Genesis: genesis, Length: length}, nil
}

func genesisErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadGenesis, field, fmt.Sprintf(format, args...))
}

// Validate checks g and names the first bad field.
func (g *Genesis) Validate() error {
	if g == nil {
		return genesisErr("genesis", "missing")
	}
	switch {
	case g.ChainID == "":
		return genesisErr("chain_id", "missing")
	case len(g.ChainID) > chain.MaxChainIDLen:
		return genesisErr("chain_id", "longer than %d bytes", chain.MaxChainIDLen)
	case g.GenesisTime <= 0:
		return genesisErr("genesis_time", "missing")
	case g.Params.ReadingInterval <= 0:
		return genesisErr("params.reading_interval", "must be positive, got %s", g.Params.ReadingInterval.Std())
	case g.Params.ReadingInterval.Std().Milliseconds() <= 0:
		return genesisErr("params.reading_interval", "must be at least 1ms")
	case g.Params.ReadingWindow <= 0:
		return genesisErr("params.reading_window", "must be positive, got %s", g.Params.ReadingWindow.Std())
	}
	if _, err := g.Period(); err != nil {
		return genesisErr("params", "%v", err)
	}
	rr := g.Params.Reward
	for _, f := range []struct {
		name string
		v    uint32
	}{
		{"max_saved_permille", rr.MaxSavedPermille},
		{"min_compliance_permille", rr.MinCompliancePermille},
		{"min_delivery_permille", rr.MinDeliveryPermille},
	} {
		if f.v > 1000 {
			return genesisErr("params.reward."+f.name, "%d is above 1000", f.v)
		}
	}
	if _, err := chain.NewValidatorSet(g.Validators); err != nil {
		return genesisErr("validators", "%v", err)
	}
	for i, k := range g.Validators {
		if err := k.Check(); err != nil {
			return fmt.Errorf("%w: validators[%d]: %w", ErrBadGenesis, i, err)
		}
	}
	regs := make(map[chain.Address]bool)
	for i, k := range g.Regulators {
		if k.IsZero() {
			return genesisErr(fmt.Sprintf("regulators[%d]", i), "zero key")
		}
		if err := k.Check(); err != nil {
			return fmt.Errorf("%w: regulators[%d]: %w", ErrBadGenesis, i, err)
		}
		if regs[k.Address()] {
			return genesisErr(fmt.Sprintf("regulators[%d]", i), "listed twice")
		}
		regs[k.Address()] = true
	}
	var supply uint64
	addBalance := func(field string, b uint64) error {
		s, err := add(supply, b, "genesis supply")
		if err != nil {
			return genesisErr(field, "%v", err)
		}
		supply = s
		return nil
	}
	accounts := make(map[chain.Address]string)
	names := make(map[string]bool)
	devices := make(map[chain.PubKey]bool)
	for i, ind := range g.Industries {
		field := fmt.Sprintf("industries[%d]", i)
		switch {
		case ind.Name == "":
			return genesisErr(field+".name", "missing")
		case len(ind.Name) > chain.MaxLabelLen:
			return genesisErr(field+".name", "longer than %d bytes", chain.MaxLabelLen)
		case names[ind.Name]:
			return genesisErr(field+".name", "%q is used twice", ind.Name)
		case ind.Account.IsZero():
			return genesisErr(field+".account", "missing")
		case regs[ind.Account.Address()]:
			return genesisErr(field+".account", "is also a regulator")
		}
		if err := ind.Account.Check(); err != nil {
			return fmt.Errorf("%w: %s.account: %w", ErrBadGenesis, field, err)
		}
		if prev, dup := accounts[ind.Account.Address()]; dup {
			return genesisErr(field+".account", "same account as %s", prev)
		}
		names[ind.Name] = true
		accounts[ind.Account.Address()] = field
		if err := ind.Limits.Validate(); err != nil {
			return genesisErr(field, "%v", err)
		}
		if err := checkPermitAmounts(&g.Params.Reward, ind.Allowance); err != nil {
			return genesisErr(field+".allowance", "%v", err)
		}
		if err := addBalance(field+".balance", ind.Balance); err != nil {
			return err
		}
		for j, d := range ind.Devices {
			df := fmt.Sprintf("%s.devices[%d]", field, j)
			switch {
			case d.Key.IsZero():
				return genesisErr(df+".key", "missing")
			case devices[d.Key]:
				return genesisErr(df+".key", "registered twice")
			case len(d.Label) > chain.MaxLabelLen:
				return genesisErr(df+".label", "longer than %d bytes", chain.MaxLabelLen)
			}
			if err := d.Key.Check(); err != nil {
				return fmt.Errorf("%w: %s.key: %w", ErrBadGenesis, df, err)
			}
			devices[d.Key] = true
		}
	}
	for i, a := range g.Accounts {
		field := fmt.Sprintf("accounts[%d]", i)
		if a.Address.IsZero() {
			return genesisErr(field+".address", "missing")
		}
		if prev, dup := accounts[a.Address]; dup {
			return genesisErr(field+".address", "same account as %s", prev)
		}
		accounts[a.Address] = field
		if err := addBalance(field+".balance", a.Balance); err != nil {
			return err
		}
	}
	return nil
}

// CheckPermitAmounts bounds an allowance so that settlement arithmetic on it
// cannot overflow: the allowance in millilitres and the largest saving
// bonus (allowance × per-litre reward, plus the base) fit in 64 bits. The
// state machine applies it to genesis permits and set-permit
// transactions; package genesis reports it for a genesis file.
func CheckPermitAmounts(rr *chain.RewardRules, allowance uint64) error {
	return checkPermitAmounts(rr, allowance)
}

func checkPermitAmounts(rr *chain.RewardRules, allowance uint64) error {
	if _, err := mul(allowance, 1000, "allowance in mL"); err != nil {
		return err
	}
	bonus, err := mul(allowance, rr.PerLitreSaved, "saving bonus")
	if err != nil {
		return err
	}
	if _, err := add(rr.Base, bonus, "base reward + saving bonus"); err != nil {
		return err
	}
	return nil
}

// genesisOverlay builds the state at height 0 on an empty store.
func genesisOverlay(g *Genesis) (*overlay, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	o := newOverlay(NewMemStore())
	putRecord(o, []byte(keyGenesis), &genesisRecord{ChainID: g.ChainID, GenesisTime: g.GenesisTime, Params: g.Params})
	putRecord(o, validatorSetKey(0), &ValidatorSetRecord{From: 0, Keys: append([]chain.PubKey(nil), g.Validators...)})
	for _, k := range g.Regulators {
		putRecord(o, regulatorKey(k.Address()), &Regulator{Key: k})
	}
	var supply uint64
	for _, ind := range g.Industries {
		addr := ind.Account.Address()
		putRecord(o, industryKey(addr), &Industry{
			Name:      ind.Name,
			Account:   ind.Account,
			Permit:    Permit{Allowance: ind.Allowance, Limits: ind.Limits},
			Allowance: ind.Allowance,
		})
		putPermitVersion(o, addr, 0, 0, Permit{Allowance: ind.Allowance, Limits: ind.Limits})
		if ind.Balance > 0 {
			putRecord(o, accountKey(addr), &Account{Balance: ind.Balance})
		}
		supply += ind.Balance // Validate checked the sum
		for _, d := range ind.Devices {
			putRecord(o, deviceKey(d.Key), &Device{Key: d.Key, Owner: addr, Label: d.Label, RegisteredTime: g.GenesisTime})
		}
	}
	for _, a := range g.Accounts {
		if a.Balance > 0 {
			putRecord(o, accountKey(a.Address), &Account{Balance: a.Balance})
		}
		supply += a.Balance
	}
	putRecord(o, []byte(keyTxMeta), &TxMeta{Time: g.GenesisTime, GenesisSupply: supply})
	putRecord(o, []byte(keyDataMeta), &DataMeta{Time: g.GenesisTime})
	return o, nil
}

// GenesisChanges returns the state at height 0 of both lanes, as changes to
// an empty store.
func GenesisChanges(g *Genesis) ([]Change, error) {
	o, err := genesisOverlay(g)
	if err != nil {
		return nil, err
	}
	return o.changes(), nil
}

// GenesisRoots returns the state roots of both lanes at height 0.
func GenesisRoots(g *Genesis) (txRoot, dataRoot chain.Hash, err error) {
	o, err := genesisOverlay(g)
	if err != nil {
		return chain.Hash{}, chain.Hash{}, err
	}
	if txRoot, err = TxRoot(o); err != nil {
		return chain.Hash{}, chain.Hash{}, err
	}
	if dataRoot, err = DataRoot(o); err != nil {
		return chain.Hash{}, chain.Hash{}, err
	}
	return txRoot, dataRoot, nil
}
