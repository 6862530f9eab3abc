package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/node/home"
)

func TestInitCommand(t *testing.T) {
	tmp := t.TempDir()
	netDir := filepath.Join(tmp, "net")
	if _, err := runSetupCmd(t, newTestnetCmd(), "testnet", "--validators", "2", "--auditors", "0", "--out", netDir, "--base-port", "32000"); err != nil {
		t.Fatal(err)
	}
	genesisFile := filepath.Join(netDir, "genesis.json")

	// A new key: home made, role none.
	fresh := filepath.Join(tmp, "fresh")
	out, err := runSetupCmd(t, newInitCmd(), "init", "--home", fresh, "--genesis", genesisFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "initialized node home "+fresh) || !strings.Contains(out, "genesis does not name this node key") {
		t.Errorf("init output:\n%s", out)
	}
	if _, err := home.Open(fresh); err != nil {
		t.Errorf("init made no home: %v", err)
	}

	// Adopting validator-2's key: its role is reported.
	adopted := filepath.Join(tmp, "adopted")
	out, err = runSetupCmd(t, newInitCmd(), "init", "--home", adopted, "--genesis", genesisFile, "--key", filepath.Join(netDir, "validator-2", "node_key.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `role      validator "validator-2"`) {
		t.Errorf("init output lacks the role:\n%s", out)
	}
	want, _ := os.ReadFile(filepath.Join(netDir, "validator-2", "node_key.json"))
	got, _ := os.ReadFile(filepath.Join(adopted, "node_key.json"))
	if string(got) != string(want) {
		t.Errorf("adopted key file differs")
	}

	// Never over an existing home.
	if _, err := runSetupCmd(t, newInitCmd(), "init", "--home", fresh, "--genesis", genesisFile); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("init over a home: %v", err)
	}
	// Required flags and a bad genesis.
	if _, err := runSetupCmd(t, newInitCmd(), "init", "--home", filepath.Join(tmp, "x")); err == nil || !strings.Contains(err.Error(), "genesis") {
		t.Errorf("init without --genesis: %v", err)
	}
	bad := filepath.Join(tmp, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"chain_id": "a b"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runSetupCmd(t, newInitCmd(), "init", "--home", filepath.Join(tmp, "y"), "--genesis", bad); err == nil || !strings.Contains(err.Error(), "chain_id") {
		t.Errorf("init with a bad genesis: %v", err)
	}
}
