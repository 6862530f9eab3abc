package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/ingest"
	"github.com/waterchain/waterchain/node/keys"
)

// TestKeysMQTTToken prints the credentials ingest.MQTTCredentials makes,
// whole or one at a time, with the chain id given or asked from the node.
func TestKeysMQTTToken(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	key, _ := chain.NewPrivateKey(seed)
	path := filepath.Join(t.TempDir(), "meter.json")
	if err := keys.Save(path, key); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	user, pass := ingest.MQTTCredentials("waterchain-devnet", key, at)

	out, err := runSetupCmd(t, newKeysCmd(), "keys", "mqtt-token", "--key", path, "--chain-id", "waterchain-devnet", "--time", "2026-11-29T10:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if want := "username  " + user + "\npassword  " + pass + "\n"; out != want {
		t.Fatalf("got\n%swant\n%s", out, want)
	}

	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/status" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(api.Status{ChainID: "waterchain-devnet"})
	}))
	defer node.Close()
	out, err = runSetupCmd(t, newKeysCmd(), "keys", "mqtt-token", "--key", path, "--node", node.URL, "--time", "2026-11-29T10:00:00Z", "--password")
	if err != nil {
		t.Fatal(err)
	}
	if out != pass+"\n" {
		t.Fatalf("--password printed %q, want %q", out, pass)
	}
	out, err = runSetupCmd(t, newKeysCmd(), "keys", "mqtt-token", "--key", path, "--chain-id", "x", "--username")
	if err != nil || out != user+"\n" {
		t.Fatalf("--username printed %q, %v", out, err)
	}
	if _, err := runSetupCmd(t, newKeysCmd(), "keys", "mqtt-token", "--key", path, "--chain-id", "x", "--time", "yesterday"); err == nil || !strings.Contains(err.Error(), "--time") {
		t.Fatalf("bad --time: %v", err)
	}
}
