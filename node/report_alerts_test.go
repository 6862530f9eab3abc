package node

import (
	"net/http"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/report"
)

// TestServedReportCountsTheNodesAlerts: the alert counts of the report a
// node serves for a period are the alerts GET /v1/alerts lists for that
// period and industry, by kind, whether their blocks' alert records are
// written (before the last checkpoint) or only in the log (after it).
func TestServedReportCountsTheNodesAlerts(t *testing.T) {
	checkpointEvery(t, 2) // checkpoints while running, not only at Close
	tn := startTestNetWith(t, 1, 0, 1, testNetOptions{network: func(o *home.NetworkOptions) {
		o.GenesisTime = time.Now().Add(-time.Minute) // period 0 stays open for the test
		o.PermitFor = func(_, _ int, _ *chain.Params) genesis.Permit {
			return genesis.Permit{Allowance: 1_000_000, Limits: chain.Limits{Conductivity: 20_000}}
		}
	}})
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	industry := tn.account(0).Public().Address()
	const breaches = 3
	for seq := uint64(1); seq <= 2*breaches; seq++ {
		r := signedReading(n.ChainID(), dev, seq, time.Now())
		r.Conductivity = 10_000
		if seq%2 == 0 {
			r.Conductivity = 30_000 // over the limit: a new breach each time
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
	waitFor(t, 20*time.Second, "the alert rules over the last block", func() bool {
		return len(n.alertLog.List(alerts.Filter{Kind: alerts.KindLimitExceeded})) >= breaches
	})

	var rep report.Report
	if code := httpJSON(t, n, http.MethodGet, "/v1/reports/0", nil, &rep); code != http.StatusOK {
		t.Fatalf("GET /v1/reports/0: %d", code)
	}
	var listed []alerts.Alert
	if code := httpJSON(t, n, http.MethodGet, "/v1/alerts?limit=10000&industry="+industry.String(), nil, &listed); code != http.StatusOK {
		t.Fatalf("GET /v1/alerts: %d", code)
	}
	want := map[alerts.Kind]uint64{}
	for _, a := range listed {
		if isChainAlert(a) && a.Time >= rep.Start && a.Time < rep.End {
			want[a.Kind]++
		}
	}
	if want[alerts.KindLimitExceeded] != breaches {
		t.Fatalf("GET /v1/alerts lists %d limit alerts, want %d", want[alerts.KindLimitExceeded], breaches)
	}
	// Some of the alerts' blocks have their records written, some not yet.
	records := 0
	if err := n.store.IterateNodeRecords(alertBlockPrefix, false, func(string, []byte) error { records++; return nil }); err != nil {
		t.Fatal(err)
	}
	if records == 0 {
		t.Fatal("no alert block record written: the checkpoint path is not exercised")
	}
	var row *report.Row
	for i := range rep.Rows {
		if rep.Rows[i].Address == industry {
			row = &rep.Rows[i]
		}
	}
	if row == nil {
		t.Fatalf("no row for %s in %+v", industry, rep.Rows)
	}
	for _, k := range alerts.Kinds {
		if row.Alerts[k] != want[k] {
			t.Errorf("%s: the report counts %d, GET /v1/alerts lists %d", k, row.Alerts[k], want[k])
		}
	}
	if row.Readings != 2*breaches {
		t.Errorf("the report counts %d readings, want %d", row.Readings, 2*breaches)
	}
}

// TestChainAlertsOfRange: chainAlertsOf yields the chain alerts of the
// blocks of a range, ascending, from the records and the log alike, and
// nothing of the blocks outside it.
func TestChainAlertsOfRange(t *testing.T) {
	n, all, _ := alertHistory(t) // all newest first
	for _, r := range [][2]uint64{{1, 300}, {190, 210}, {201, 201}, {150, 160}, {1, 1}, {299, 400}, {5, 4}} {
		var want []chain.Hash
		for i := len(all) - 1; i >= 0; i-- {
			if a := all[i]; a.Height >= r[0] && a.Height <= r[1] {
				want = append(want, a.ID)
			}
		}
		got, err := chainAlertsOf(n.store, n.alertLog, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		if g := ids(got); len(g) != len(want) {
			t.Fatalf("data/%d..%d: %d alerts, want %d", r[0], r[1], len(g), len(want))
		} else {
			for i := range g {
				if g[i] != want[i] {
					t.Fatalf("data/%d..%d: alert %d is %s, want %s", r[0], r[1], i, g[i].Short(), want[i].Short())
				}
			}
		}
	}
}
