package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
)

// TestAlertCheckpointRestart: a node whose readings raised alerts is
// restarted from its alert checkpoint (replaying only the blocks after
// it), from no checkpoint (replaying from genesis) and from damaged ones
// (garbage, a height above the head, another version): each time it holds
// the same alerts, in the same order, and the same engine state as before,
// and after a rebuild it has written a usable checkpoint again.
func TestAlertCheckpointRestart(t *testing.T) {
	checkpointEvery(t, 2) // checkpoints while running, not only at Close

	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	for seq := uint64(1); seq <= 6; seq++ {
		r := signedReading(n.ChainID(), dev, seq, time.Now())
		if seq%2 == 0 {
			r.FlowRate = -1000 // negative flow: an alert each time it begins
		}
		r.Sign(n.ChainID(), dev)
		var res api.SubmitReadingsResult
		if code := httpJSON(t, n, http.MethodPost, "/v1/readings", r, &res); code != http.StatusAccepted {
			t.Fatalf("reading %d: %d %+v", seq, code, res)
		}
		waitFor(t, 20*time.Second, "the reading final", func() bool {
			d, err := state.GetDevice(n.state, dev.Public())
			return err == nil && d.Data.LastSeq == seq
		})
	}
	// Let the loop observe the last block.
	waitFor(t, 10*time.Second, "three negative flow alerts", func() bool {
		return len(n.alertLog.List(alerts.Filter{Kind: alerts.KindNegativeFlow})) == 3
	})

	ids := func(n *Node) []chain.Hash {
		var out []chain.Hash
		for _, a := range n.alertLog.List(alerts.Filter{}) {
			out = append(out, a.ID)
		}
		return out
	}
	snap := func(n *Node) []byte {
		b, err := n.alerts.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wantIDs, wantSnap := ids(n), snap(n)
	dataDir := filepath.Join(tn.nw.Nodes[0].Home, n.cfg.Storage.DataDir)
	// withStore opens the stopped node's store.
	withStore := func(fn func(s *store.Store)) {
		t.Helper()
		kv, err := store.OpenBadger(dataDir, store.BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer kv.Close()
		s, err := store.Open(kv)
		if err != nil {
			t.Fatal(err)
		}
		fn(s)
	}
	put := func(s *store.Store, v []byte) {
		t.Helper()
		if err := s.PutNodeRecords(store.NodeRecord{Name: alertCheckpointName, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint := func(s *store.Store) (uint64, []byte) {
		t.Helper()
		v, err := s.GetNodeRecord(alertCheckpointName)
		if err != nil || len(v) < 9 || v[0] != alertCheckpointVersion {
			t.Fatalf("alert checkpoint: %v, %d bytes", err, len(v))
		}
		return binary.BigEndian.Uint64(v[1:9]), v
	}

	for _, tc := range []struct {
		name   string
		damage func(s *store.Store)
	}{
		{"from the checkpoint", func(s *store.Store) {
			if h, _ := checkpoint(s); h != s.Height(chain.LaneData) || h == 0 {
				t.Fatalf("checkpoint at data/%d after a clean shutdown, head %d", h, s.Height(chain.LaneData))
			}
		}},
		{"missing", func(s *store.Store) {
			if err := s.PutNodeRecords(store.NodeRecord{Name: alertCheckpointName, Delete: true}); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage", func(s *store.Store) {
			_, v := checkpoint(s)
			put(s, append(v[:9:9], "not an engine snapshot"...))
		}},
		{"above the head", func(s *store.Store) {
			_, v := checkpoint(s)
			put(s, append(binary.BigEndian.AppendUint64([]byte{alertCheckpointVersion}, s.Height(chain.LaneData)+1), v[9:]...))
		}},
		{"other version", func(s *store.Store) {
			_, v := checkpoint(s)
			w := bytes.Clone(v)
			w[0]++
			put(s, w)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			withStore(tc.damage)
			n = tn.start(0)
			tn.nodes[0] = n
			if got := ids(n); !slices.Equal(got, wantIDs) {
				t.Fatalf("after the restart: %d alerts %v, before %d %v", len(got), got, len(wantIDs), wantIDs)
			}
			if !bytes.Equal(snap(n), wantSnap) {
				t.Fatal("after the restart the engine state differs")
			}
			// The checkpoint it wrote at start restores.
			v, err := n.store.GetNodeRecord(alertCheckpointName)
			if err != nil {
				t.Fatal(err)
			}
			e, _ := alerts.NewEngine(alerts.Config{ReadingInterval: n.gen.Params.ReadingInterval.Std(),
				ReadingWindow: n.gen.Params.ReadingWindow.Std(), Thresholds: n.cfg.Alerts.Thresholds})
			if err := e.Restore(v[9:]); err != nil {
				t.Fatalf("checkpoint written at start: %v", err)
			}
		})
	}

	// The engine refuses what the node's loader refuses.
	if _, err := n.loadAlertCheckpoint(0); err == nil && n.Height(chain.LaneData) > 0 {
		t.Fatal("a checkpoint above the head (0) was accepted")
	} else if err != nil && !errors.Is(err, ErrAlertCheckpoint) {
		t.Fatalf("checkpoint above the head: %v, want ErrAlertCheckpoint", err)
	}
}

// checkpointEvery makes the nodes of a test write an alert checkpoint
// every k data blocks. Call it before the nodes start: the old value is
// restored by a cleanup registered first, so it runs after the nodes are
// closed (cleanups run last-registered first).
func checkpointEvery(t *testing.T, k uint64) {
	every := alertCheckpointEvery
	t.Cleanup(func() { alertCheckpointEvery = every })
	alertCheckpointEvery = k
}
