package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/home"
)

func TestTestnetCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "testnet")
	out, err := runSetupCmd(t, newTestnetCmd(), "testnet", "--validators", "3", "--auditors", "1", "--out", dir, "--base-port", "33000", "--devnet-params")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"waterchain-devnet", "validator-3", "auditor-1", "http://127.0.0.1:33031", "River Basin Authority", "waterchain run --home " + filepath.Join(dir, "validator-1")} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	raw, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Nodes []struct{ Name, Role, API, Home string } `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Nodes) != 4 {
		t.Fatalf("testnet.json lists %d nodes", len(manifest.Nodes))
	}
	g, err := genesis.Load(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Params != genesis.DevnetParams() {
		t.Errorf("--devnet-params not applied: %+v", g.Params)
	}
	for _, n := range manifest.Nodes {
		h, err := home.Open(n.Home)
		if err != nil {
			t.Fatal(err)
		}
		key, err := h.LoadNodeKey()
		if err != nil {
			t.Fatal(err)
		}
		if role, name, _ := g.RoleOf(key.Public()); role != n.Role || name != n.Name {
			t.Errorf("%s: genesis says %s %s", n.Name, role, name)
		}
		cfg, err := h.LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		if "http://"+cfg.API.Listen != n.API {
			t.Errorf("%s: config api %s, manifest %s", n.Name, cfg.API.Listen, n.API)
		}
	}

	// Again: refused, then allowed with --overwrite.
	if _, err := runSetupCmd(t, newTestnetCmd(), "testnet", "--validators", "3", "--out", dir); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("second testnet: %v", err)
	}
	if _, err := runSetupCmd(t, newTestnetCmd(), "testnet", "--validators", "2", "--auditors", "0", "--out", dir, "--overwrite", "--chain-id", "lake-1"); err != nil {
		t.Fatal(err)
	}
	g2, err := genesis.Load(filepath.Join(dir, "genesis.json"))
	if err != nil || g2.ChainID != "lake-1" || len(g2.Validators) != 2 || g2.Params != genesis.DefaultParams() {
		t.Errorf("overwritten genesis: %v %+v", err, g2)
	}
	if _, err := os.Stat(filepath.Join(dir, "auditor-1")); !os.IsNotExist(err) {
		t.Errorf("old auditor home left after --overwrite: %v", err)
	}

	// Bad options are refused with the flag named.
	if _, err := runSetupCmd(t, newTestnetCmd(), "testnet", "--validators", "0", "--out", filepath.Join(t.TempDir(), "n")); err == nil || !strings.Contains(err.Error(), "--validators 0") {
		t.Errorf("--validators 0: %v", err)
	}
	if _, err := runSetupCmd(t, newTestnetCmd(), "testnet"); err == nil || !strings.Contains(err.Error(), `"out" not set`) {
		t.Errorf("no --out: %v", err)
	}
}
