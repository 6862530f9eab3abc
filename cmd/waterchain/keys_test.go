package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
)

// runSetupCmd executes cmd under a fresh root, as the waterchain binary
// would, and returns what it printed. A fresh command tree per call keeps
// flag values from leaking between runs.
func runSetupCmd(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "waterchain", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cmd)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestKeysNewAndShow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "riverside.json")
	out, err := runSetupCmd(t, newKeysCmd(), "keys", "new", "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o", info.Mode().Perm())
	}
	id, _ := home.PeerID(key.Public())
	for _, want := range []string{key.Public().String(), key.Public().Address().String(), id.String()} {
		if !strings.Contains(out, want) {
			t.Errorf("keys new output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, hex.EncodeToString(key.Seed())) {
		t.Error("private key printed")
	}

	show, err := runSetupCmd(t, newKeysCmd(), "keys", "show", path)
	if err != nil {
		t.Fatal(err)
	}
	if show != out {
		t.Errorf("keys show differs from keys new:\n%s\n%s", show, out)
	}

	js, err := runSetupCmd(t, newKeysCmd(), "keys", "show", path, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got keyInfo
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatalf("--json output %q: %v", js, err)
	}
	if got.PublicKey != key.Public() || got.Address != key.Public().Address() || got.PeerID != id.String() {
		t.Errorf("--json = %+v", got)
	}

	// Never overwrite.
	if _, err := runSetupCmd(t, newKeysCmd(), "keys", "new", "--out", path); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("keys new over an existing file: %v", err)
	}
	if again, _ := keys.Load(path); again.Public() != key.Public() {
		t.Fatal("key file replaced")
	}
}

func TestKeysErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := runSetupCmd(t, newKeysCmd(), "keys", "new"); err == nil || !strings.Contains(err.Error(), `"out" not set`) {
		t.Errorf("keys new without --out: %v", err)
	}
	if _, err := runSetupCmd(t, newKeysCmd(), "keys", "show"); err == nil {
		t.Error("keys show without a file succeeded")
	}
	path := filepath.Join(dir, "k.json")
	if _, err := runSetupCmd(t, newKeysCmd(), "keys", "new", "--out", path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runSetupCmd(t, newKeysCmd(), "keys", "show", path); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("keys show of a 0644 file: %v", err)
	}
	if _, err := runSetupCmd(t, newKeysCmd(), "keys", "show", filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("keys show of a missing file: %v", err)
	}
}

// TestSetupCommandsAreRegisteredWithExamples checks the real root: every
// command of this file set is there and its --help has an example.
func TestSetupCommandsAreRegisteredWithExamples(t *testing.T) {
	for _, path := range [][]string{{"keys"}, {"keys", "new"}, {"keys", "show"}, {"init"}, {"testnet"}} {
		cmd, _, err := rootCmd.Find(path)
		if err != nil || cmd.Name() != path[len(path)-1] {
			t.Errorf("waterchain %s is not registered: %v", strings.Join(path, " "), err)
			continue
		}
		if strings.TrimSpace(cmd.Example) == "" {
			t.Errorf("waterchain %s --help has no example", strings.Join(path, " "))
		}
	}
	out, err := runSetupCmd(t, newTestnetCmd(), "testnet", "--help")
	if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--devnet-params") {
		t.Errorf("testnet --help: %v\n%s", err, out)
	}
}
