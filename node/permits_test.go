package node

import (
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
)

// TestAlertsJudgeReadingsByThePermitOfTheirTime: a regulator raises an
// industry's conductivity limit from the next period. Readings before the
// change are judged by the old limit and readings after it by the new one,
// live and again when a restarted node replays the chain: the alerts are
// the same (the limit is the permit as of each data block's anchor, from
// the permit history in the state).
func TestAlertsJudgeReadingsByThePermitOfTheirTime(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a settlement period to end (about 15 s)")
	}
	const oldLimit, newLimit = 20_000, 40_000 // conductivity, 0.1 µS/cm
	// Devnet periods last 5 minutes from genesis; genesis is put in the past
	// so that period 1 opens a few seconds into the test.
	periodOpens := time.Now().Add(12 * time.Second)
	tn := startTestNetWith(t, 1, 0, 1, testNetOptions{network: func(o *home.NetworkOptions) {
		o.GenesisTime = periodOpens.Add(-5 * time.Minute)
		o.PermitFor = func(_, _ int, _ *chain.Params) genesis.Permit {
			return genesis.Permit{Allowance: 1_000_000, Limits: chain.Limits{Conductivity: oldLimit}}
		}
	}})
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	industry := tn.account(0).Public().Address()
	seq := uint64(0)
	send := func(conductivity int64) {
		t.Helper()
		seq++
		r := signedReading(n.ChainID(), dev, seq, time.Now())
		r.Conductivity = conductivity
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

	// Period 0, old limit: 30,000 breaches it.
	send(10_000)
	send(30_000)
	submitTx(t, n, tn.regulatorKey(), &chain.Tx{SetPermit: &chain.SetPermit{
		Industry: industry, Allowance: 1_000_000, Limits: chain.Limits{Conductivity: newLimit}}})
	waitFor(t, 40*time.Second, "period 1 opened with the new permit", func() bool {
		p, err := state.PermitAt(n.state, industry, n.Height(chain.LaneTx))
		return err == nil && p.Permit.Limits.Conductivity == newLimit && n.Height(chain.LaneTx) > p.From
	})
	// Let the data lane anchor past the tx block that opened period 1.
	opened, _ := state.PermitAt(n.state, industry, n.Height(chain.LaneTx))
	waitFor(t, 20*time.Second, "a data block anchored in period 1", func() bool {
		h, ok := n.Head(chain.LaneData)
		return ok && h.Anchor.Height >= opened.From
	})
	// Period 1, new limit: 30,000 is within it (the breach ends), 50,000
	// breaches it.
	send(10_000)
	send(30_000)
	send(50_000)

	// The industry's page lists both versions of its permit.
	var view struct {
		PermitHistory []state.PermitRecord `json:"permit_history"`
	}
	if code := httpJSON(t, n, http.MethodGet, "/v1/industries/"+industry.String(), nil, &view); code != http.StatusOK ||
		len(view.PermitHistory) != 2 || view.PermitHistory[0].Permit.Limits.Conductivity != oldLimit ||
		view.PermitHistory[1].Permit.Limits.Conductivity != newLimit || view.PermitHistory[1].Period != 1 {
		t.Fatalf("GET /v1/industries/%s: %d, permit history %+v", industry, code, view.PermitHistory)
	}

	limitAlerts := func(n *Node) []alerts.Alert {
		as := n.alertLog.List(alerts.Filter{Kind: alerts.KindLimitExceeded})
		sort.Slice(as, func(i, j int) bool { return as[i].Time < as[j].Time })
		return as
	}
	// The state shows a reading final before the loop has run the alert
	// rules over its block: wait for the rules, not for the state.
	waitFor(t, 20*time.Second, "the alert rules over the last block", func() bool { return len(limitAlerts(n)) >= 2 })
	live := limitAlerts(n)
	if len(live) != 2 || live[0].Value != 30_000 || live[0].Threshold != oldLimit || live[1].Value != 50_000 || live[1].Threshold != newLimit {
		for _, a := range live {
			t.Logf("live alert: %s", a.Message)
		}
		t.Fatalf("live: %d limit alerts, want 30000 over %d then 50000 over %d", len(live), oldLimit, newLimit)
	}

	// A restart replays the chain through the rules and must find the same.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = tn.start(0)
	tn.nodes[0] = n
	replayed := limitAlerts(n)
	if len(replayed) != len(live) {
		for _, a := range replayed {
			t.Logf("replayed alert: %s", a.Message)
		}
		t.Fatalf("after a restart: %d limit alerts, live there were %d", len(replayed), len(live))
	}
	for i := range live {
		if replayed[i].ID != live[i].ID || replayed[i].Threshold != live[i].Threshold {
			t.Errorf("alert %d: live %s (limit %d), replayed %s (limit %d)", i, live[i].ID.Short(), live[i].Threshold, replayed[i].ID.Short(), replayed[i].Threshold)
		}
	}
}
