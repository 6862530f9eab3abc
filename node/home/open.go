package home

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/keys"
)

// OpenNetwork reads back a network WriteNetwork wrote in dir (with the given
// manifest file name): its manifest, genesis, account and device keys, so
// that "waterchain devnet" can resume it.
func OpenNetwork(dir, manifest string) (*Network, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	m, err := LoadManifest(filepath.Join(abs, manifest))
	if err != nil {
		return nil, err
	}
	nw := &Network{Dir: abs, GenesisFile: filepath.Join(abs, GenesisFileName), Manifest: filepath.Join(abs, manifest)}
	if nw.Genesis, err = genesis.Load(nw.GenesisFile); err != nil {
		return nil, err
	}
	g := nw.Genesis
	runBy := map[string]string{}
	for _, ind := range g.Industries {
		if ind.Validator != "" {
			runBy[ind.Validator] = ind.Name
		}
	}
	for _, n := range m.Nodes {
		h, err := Open(n.Home)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		key, err := h.LoadNodeKey()
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		n.NodeKey = key.Public()
		n.Industry = runBy[n.Name]
		nw.Nodes = append(nw.Nodes, n)
	}
	// Accounts and devices: every key file whose key genesis names.
	for _, sub := range []string{AccountsDirName, DevicesDirName} {
		files, _ := filepath.Glob(filepath.Join(abs, sub, "*.json"))
		sort.Strings(files)
		for _, f := range files {
			key, err := keys.Load(f)
			if err != nil {
				return nil, err
			}
			pub := key.Public()
			for _, r := range g.Regulators {
				if r.Account == pub {
					nw.Accounts = append(nw.Accounts, Account{Name: r.Name, Role: AccountRegulator, KeyFile: f, PubKey: pub, Address: pub.Address()})
				}
			}
			for _, ind := range g.Industries {
				if ind.Account == pub {
					nw.Accounts = append(nw.Accounts, Account{Name: ind.Name, Role: AccountIndustry, KeyFile: f, PubKey: pub, Address: pub.Address()})
				}
				for _, d := range ind.Devices {
					if d.Key == pub {
						nw.Devices = append(nw.Devices, Device{Industry: ind.Name, Label: d.Label, KeyFile: f, PubKey: pub})
					}
				}
			}
		}
	}
	// Devices in genesis order (industry by industry), as WriteNetwork
	// made them: simulators index meters by that order.
	order := map[chain.PubKey]int{}
	for _, ind := range g.Industries {
		for _, d := range ind.Devices {
			order[d.Key] = len(order)
		}
	}
	sort.SliceStable(nw.Devices, func(i, j int) bool { return order[nw.Devices[i].PubKey] < order[nw.Devices[j].PubKey] })
	return nw, nil
}
