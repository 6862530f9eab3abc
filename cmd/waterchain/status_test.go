package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/node/api"
)

// TestStatusShowsSyncProgress: while the node syncs, status prints the
// target heads, blocks left, rate and ETA as text (not a terminal).
func TestStatusShowsSyncProgress(t *testing.T) {
	st := api.Status{
		ChainID: "waterchain-devnet", Role: "auditor", Syncing: true,
		Lanes: map[string]api.LaneStatus{"data": {Height: 1200}, "tx": {Height: 1100}},
		Sync:  &api.SyncStatus{TargetData: 5000, TargetTx: 4900, Remaining: 7600, BlocksPerSecond: 3800, ETASeconds: 2},
	}
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(st)
	}))
	defer node.Close()
	out, err := runSetupCmd(t, newStatusCmd(), "status", "--node", node.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := "sync       data 1200/5000  tx 1100/4900  7600 blocks left  3800 blocks/s  ETA 2s\n"
	if !strings.Contains(out, want) {
		t.Fatalf("status printed\n%s\nwant a line\n%s", out, want)
	}
	st.Sync, st.Syncing = nil, false
	out, err = runSetupCmd(t, newStatusCmd(), "status", "--node", node.URL)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "sync  ") || !strings.Contains(out, "syncing    false") {
		t.Fatalf("a node not syncing shows sync progress:\n%s", out)
	}
}
