package home

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/keys"
)

func TestWriteNetwork(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	nw, err := WriteNetwork(dir, NetworkOptions{Validators: 4, Auditors: 1, BasePort: 31000, DevnetParams: true, GenesisTime: start})
	if err != nil {
		t.Fatal(err)
	}
	if len(nw.Nodes) != 5 || len(nw.Accounts) != 5 {
		t.Fatalf("%d nodes, %d accounts; want 5 and 5", len(nw.Nodes), len(nw.Accounts))
	}

	g, err := genesis.Load(filepath.Join(dir, GenesisFileName))
	if err != nil {
		t.Fatal(err)
	}
	if g.Hash() != nw.Genesis.Hash() {
		t.Errorf("genesis.json differs from the returned genesis")
	}
	if g.ChainID != "waterchain-devnet" || g.Time() != chain.TimeOf(start) || g.Params != genesis.DevnetParams() {
		t.Errorf("genesis chain id %q, time %v, params %+v", g.ChainID, g.Time(), g.Params)
	}
	if g.ValidatorSet().Size() != 4 || len(g.Auditors) != 1 || len(g.Industries) != 4 || len(g.Regulators) != 1 {
		t.Fatalf("genesis has %d validators, %d auditors, %d industries, %d regulators",
			g.ValidatorSet().Size(), len(g.Auditors), len(g.Industries), len(g.Regulators))
	}

	ports := map[string]string{}
	usePort := func(what, addr string) {
		if prev, dup := ports[addr]; dup {
			t.Errorf("%s and %s both use %s", prev, what, addr)
		}
		ports[addr] = what
	}
	for i, n := range nw.Nodes {
		wantName := fmt.Sprintf("validator-%d", i+1)
		wantRole := genesis.RoleValidator
		if i == 4 {
			wantName, wantRole = "auditor-1", genesis.RoleAuditor
		}
		if n.Name != wantName || n.Role != wantRole || n.Home != filepath.Join(dir, wantName) {
			t.Errorf("node %d: %s %s %s", i, n.Name, n.Role, n.Home)
		}
		h, err := Open(n.Home)
		if err != nil {
			t.Fatal(err)
		}
		key, err := h.LoadNodeKey()
		if err != nil {
			t.Fatal(err)
		}
		if role, name, ok := g.RoleOf(key.Public()); !ok || role != n.Role || name != n.Name {
			t.Errorf("%s: key's role in genesis is %q %q %v", n.Name, role, name, ok)
		}
		hg, err := h.LoadGenesis()
		if err != nil || hg.Hash() != g.Hash() {
			t.Errorf("%s: genesis differs: %v", n.Name, err)
		}
		id, _ := PeerID(key.Public())
		if n.PeerID != id.String() || n.P2PAddr != n.P2PListen+"/p2p/"+id.String() {
			t.Errorf("%s: peer id %s, addr %s; key gives %s", n.Name, n.PeerID, n.P2PAddr, id)
		}

		cfg, err := h.LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		wantP2P := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 31000+10*i)
		wantAPI := fmt.Sprintf("127.0.0.1:%d", 31000+10*i+1)
		if !reflect.DeepEqual(cfg.P2P.Listen, []string{wantP2P}) || cfg.API.Listen != wantAPI || n.API != "http://"+wantAPI {
			t.Errorf("%s: listens on %v and %s (manifest %s); want %s and %s", n.Name, cfg.P2P.Listen, cfg.API.Listen, n.API, wantP2P, wantAPI)
		}
		usePort(n.Name+" p2p", cfg.P2P.Listen[0])
		usePort(n.Name+" api", cfg.API.Listen)
		usePort(n.Name+" mqtt", cfg.MQTT.Listen)
		if cfg.P2P.MDNS {
			t.Errorf("%s: mDNS on for a loopback network", n.Name)
		}

		// The bootstrap list is every other node, each with the peer ID
		// of that node's key.
		var boot []string
		for _, b := range cfg.P2P.Bootstrap {
			ai, err := peer.AddrInfoFromString(b)
			if err != nil {
				t.Fatalf("%s: bootstrap %q: %v", n.Name, b, err)
			}
			if ai.ID.String() == n.PeerID {
				t.Errorf("%s bootstraps from itself", n.Name)
			}
			boot = append(boot, b)
		}
		var others []string
		for j, o := range nw.Nodes {
			if j != i {
				others = append(others, o.P2PAddr)
			}
		}
		sort.Strings(boot)
		sort.Strings(others)
		if !reflect.DeepEqual(boot, others) {
			t.Errorf("%s bootstraps from %v, want %v", n.Name, boot, others)
		}
	}

	// Industries run validators; accounts are loadable 0600 key files
	// matching genesis.
	for i, ind := range g.Industries {
		if ind.Validator != nw.Nodes[i].Name || nw.Nodes[i].Industry != ind.Name {
			t.Errorf("industry %q runs %q; node %s says %q", ind.Name, ind.Validator, nw.Nodes[i].Name, nw.Nodes[i].Industry)
		}
		if ind.Balance != OpeningBalance || ind.Permit.Allowance == 0 || ind.Permit.Limits != NetworkLimits {
			t.Errorf("industry %q: balance %d, permit %+v", ind.Name, ind.Balance, ind.Permit)
		}
	}
	if g.Industries[0].Name != "Riverside Textiles" || g.Industries[0].Permit.Allowance != 25_000*5/60 {
		t.Errorf("first industry %q allowance %d; want Riverside Textiles sized for 25 m³/h over 5 minutes", g.Industries[0].Name, g.Industries[0].Permit.Allowance)
	}
	for _, a := range nw.Accounts {
		if filepath.Dir(a.KeyFile) != filepath.Join(dir, AccountsDirName) {
			t.Errorf("account key %s outside accounts/", a.KeyFile)
		}
		key, err := keys.Load(a.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		if key.Public() != a.PubKey || a.Address != a.PubKey.Address() {
			t.Errorf("account %s: key file does not match", a.Name)
		}
		switch a.Role {
		case AccountIndustry:
			if ind, ok := g.Industry(a.Address); !ok || ind.Name != a.Name {
				t.Errorf("industry account %s not in genesis", a.Name)
			}
		case AccountRegulator:
			if !g.IsRegulator(a.Address) {
				t.Errorf("regulator account %s not in genesis", a.Name)
			}
		default:
			t.Errorf("account %s has role %q", a.Name, a.Role)
		}
	}
	if info, err := os.Stat(filepath.Join(dir, AccountsDirName)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("accounts/ mode: %v %v", info, err)
	}

	// The manifest has exactly the documented shape.
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFileName))
	if err != nil {
		t.Fatal(err)
	}
	var generic struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	if len(generic.Nodes) != 5 {
		t.Fatalf("manifest lists %d nodes", len(generic.Nodes))
	}
	for i, n := range generic.Nodes {
		var fields []string
		for k := range n {
			fields = append(fields, k)
		}
		sort.Strings(fields)
		if !reflect.DeepEqual(fields, []string{"api", "home", "name", "role"}) {
			t.Errorf("manifest node %d has fields %v", i, fields)
		}
		if n["api"] != nw.Nodes[i].API || n["home"] != nw.Nodes[i].Home {
			t.Errorf("manifest node %d = %v", i, n)
		}
	}
	m, err := LoadManifest(nw.Manifest)
	if err != nil || len(m.Nodes) != 5 || m.Nodes[4].Name != "auditor-1" {
		t.Errorf("LoadManifest: %v %+v", err, m)
	}
}

func TestWriteNetworkProductionParams(t *testing.T) {
	nw, err := WriteNetwork(t.TempDir(), NetworkOptions{Validators: 1})
	if err != nil {
		t.Fatal(err)
	}
	g := nw.Genesis
	if g.ChainID != "waterchain-testnet" || g.Params != genesis.DefaultParams() || g.Period().Length != 0 {
		t.Errorf("chain id %q, params %+v", g.ChainID, g.Params)
	}
	if len(nw.Nodes) != 1 || nw.Nodes[0].API != fmt.Sprintf("http://127.0.0.1:%d", DefaultBasePort+1) {
		t.Errorf("nodes %+v", nw.Nodes)
	}
	if a := g.Industries[0].Permit.Allowance; a != 25_000*24*30 {
		t.Errorf("monthly allowance %d", a)
	}
	h, _ := Open(nw.Nodes[0].Home)
	cfg, err := h.LoadConfig()
	if err != nil || len(cfg.P2P.Bootstrap) != 0 {
		t.Errorf("single node bootstrap %v %v", cfg, err)
	}
	if time.Since(g.Time().Std()) > time.Minute {
		t.Errorf("genesis time %v is not now", g.Time())
	}
}

func TestWriteNetworkRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	first, err := WriteNetwork(dir, NetworkOptions{Validators: 2, Auditors: 1})
	if err != nil {
		t.Fatal(err)
	}
	genesisBefore, _ := os.ReadFile(first.GenesisFile)

	_, err = WriteNetwork(dir, NetworkOptions{Validators: 2})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("second WriteNetwork: %v", err)
	}
	if now, _ := os.ReadFile(first.GenesisFile); string(now) != string(genesisBefore) {
		t.Fatal("refused WriteNetwork changed genesis.json")
	}

	// Overwrite replaces it: fewer nodes, new keys, no leftover homes.
	second, err := WriteNetwork(dir, NetworkOptions{Validators: 1, Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.Genesis.Hash() == first.Genesis.Hash() {
		t.Error("overwritten network has the old genesis")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{AccountsDirName, GenesisFileName, ManifestFileName, "validator-1"}; !reflect.DeepEqual(names, want) {
		t.Errorf("after overwrite DIR holds %v, want %v", names, want)
	}
	accounts, _ := os.ReadDir(filepath.Join(dir, AccountsDirName))
	if len(accounts) != 2 {
		t.Errorf("accounts/ holds %d files, want 2", len(accounts))
	}

	// A directory with other content is never written into.
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = WriteNetwork(foreign, NetworkOptions{Validators: 1, Overwrite: true})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "not a network written by waterchain") {
		t.Errorf("foreign dir: %v", err)
	}
	if entries, _ := os.ReadDir(foreign); len(entries) != 1 {
		t.Errorf("foreign dir changed: %v", entries)
	}
}

func TestWriteNetworkOptions(t *testing.T) {
	tests := []struct {
		name string
		opts NetworkOptions
		want string
	}{
		{"no validators", NetworkOptions{}, "--validators 0"},
		{"too many validators", NetworkOptions{Validators: chain.MaxValidators + 1}, "--validators"},
		{"negative auditors", NetworkOptions{Validators: 1, Auditors: -1}, "--auditors -1"},
		{"low port", NetworkOptions{Validators: 1, BasePort: 80}, "--base-port 80"},
		{"ports past 65535", NetworkOptions{Validators: 4, BasePort: 65500}, "65539"},
		{"bad chain id", NetworkOptions{Validators: 1, ChainID: "has space"}, "chain_id"},
		{"bad manifest", NetworkOptions{Validators: 1, Manifest: "../x.json"}, "manifest"},
		{"hosts too few", NetworkOptions{Validators: 2, Auditors: 1, Hosts: []string{"a", "b"}}, "2 given for 3 nodes"},
		{"host with a path", NetworkOptions{Validators: 1, Hosts: []string{"a/b"}}, `"a/b"`},
		{"host with a port", NetworkOptions{Validators: 1, Hosts: []string{"a:1"}}, `"a:1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "net")
			_, err := WriteNetwork(dir, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("failed WriteNetwork left %s", dir)
			}
		})
	}
}

func TestWriteNetworkManyValidatorsGetGenericNames(t *testing.T) {
	nw, err := WriteNetwork(t.TempDir(), NetworkOptions{Validators: len(industries) + 2, Manifest: "devnet.json"})
	if err != nil {
		t.Fatal(err)
	}
	last := nw.Genesis.Industries[len(industries)+1]
	if last.Name != fmt.Sprintf("Industry %d", len(industries)+2) {
		t.Errorf("last industry is %q", last.Name)
	}
	if filepath.Base(nw.Manifest) != "devnet.json" {
		t.Errorf("manifest %s", nw.Manifest)
	}
}

// TestWriteNetworkOnHosts: with Hosts every node listens on all interfaces
// at the same ports and bootstraps from the others by name or address.
func TestWriteNetworkOnHosts(t *testing.T) {
	nw, err := WriteNetwork(filepath.Join(t.TempDir(), "net"), NetworkOptions{
		Validators: 2, Auditors: 1, BasePort: 26656,
		Hosts: []string{"validator-1.example.org", "10.0.0.7", "fd00::3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAddr := []string{"/dns/validator-1.example.org/tcp/26656/p2p/", "/ip4/10.0.0.7/tcp/26656/p2p/", "/ip6/fd00::3/tcp/26656/p2p/"}
	wantListen := []string{"/ip4/0.0.0.0/tcp/26656", "/ip4/0.0.0.0/tcp/26656", "/ip6/::/tcp/26656"}
	wantAPI := []string{"http://validator-1.example.org:26657", "http://10.0.0.7:26657", "http://[fd00::3]:26657"}
	for i, n := range nw.Nodes {
		if n.P2PAddr != wantAddr[i]+n.PeerID || n.P2PListen != wantListen[i] || n.API != wantAPI[i] {
			t.Errorf("node %d: addr %s listen %s api %s; want %s… %s %s", i, n.P2PAddr, n.P2PListen, n.API, wantAddr[i], wantListen[i], wantAPI[i])
		}
		cfg, err := (Home{Dir: n.Home}).LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.P2P.Bootstrap) != 2 {
			t.Fatalf("node %d bootstraps from %v", i, cfg.P2P.Bootstrap)
		}
		for _, b := range cfg.P2P.Bootstrap {
			if b == n.P2PAddr || strings.Contains(b, "127.0.0.1") {
				t.Errorf("node %d bootstraps from %s", i, b)
			}
		}
	}
}
