package report_test

import (
	"reflect"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/report"
)

// TestReportAlertsOption: with ReportOptions.Alerts the report asks for
// the alerts of the period's data blocks only (from the first block that
// can hold a reading of the period, not from height 1), counts those
// timed in the period of a known industry, and, given the alerts a replay
// raises for those blocks, comes out identical to the replaying report.
func TestReportAlertsOption(t *testing.T) {
	c := reportScenario(t)
	th := alerts.DefaultThresholds()
	for _, tc := range []struct {
		period   string
		from, to uint64
	}{
		// Period 0 (G..G+10m): blocks up to the end plus the 5 min window.
		{"0", 1, 10},
		// Period 1 (G+10m..G+20m): from G+5m (data/5) to the head.
		{"1", 5, 11},
	} {
		want, err := report.BuildReport(c.Store, c.Genesis, tc.period)
		if err != nil {
			t.Fatal(err)
		}
		// The replay a node does live, with the period's limits (as the
		// replaying report uses).
		ctx := map[chain.PubKey]alerts.DeviceContext{}
		for i, r := range want.Rows {
			ctx[c.Device(i+1, 1).Public()] = alerts.DeviceContext{Industry: r.Address, IndustryName: r.Industry, Limits: r.Limits}
		}
		eng, err := alerts.NewEngine(alerts.Config{ReadingInterval: c.Genesis.Params.ReadingInterval.Std(), ReadingWindow: c.Genesis.Params.ReadingWindow.Std(), Thresholds: th})
		if err != nil {
			t.Fatal(err)
		}
		var raised []alerts.Alert
		for h := uint64(1); h <= want.DataHeight; h++ {
			b, err := c.Store.Block(chain.LaneData, h)
			if err != nil {
				t.Fatal(err)
			}
			raised = append(raised, eng.ObserveBlock(b, func(k chain.PubKey) alerts.DeviceContext { return ctx[k] })...)
		}
		var calls [][2]uint64
		opts := report.ReportOptions{Alerts: func(from, to uint64) ([]alerts.Alert, error) {
			calls = append(calls, [2]uint64{from, to})
			var out []alerts.Alert
			for _, a := range raised {
				if a.Height >= from && a.Height <= to {
					out = append(out, a)
				}
			}
			// Not counted: one timed at the period's end, one of no
			// industry.
			out = append(out,
				alerts.Alert{Kind: alerts.KindLeak, Industry: want.Rows[0].Address, Time: want.End, Height: to},
				alerts.Alert{Kind: alerts.KindLeak, Time: want.Start, Height: from})
			return out, nil
		}}
		got, err := report.BuildReportWith(c.Store, c.Genesis, tc.period, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0] != [2]uint64{tc.from, tc.to} {
			t.Errorf("period %s: alerts asked for %v, want data/%d..%d once", tc.period, calls, tc.from, tc.to)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("period %s: with the Alerts option\n%+v\nreplaying\n%+v", tc.period, got, want)
		}
		alerted := uint64(0)
		for _, r := range got.Rows {
			for _, n := range r.Alerts {
				alerted += n
			}
		}
		if tc.period == "0" && alerted == 0 {
			t.Errorf("period 0 counts no alerts: the scenario raises some")
		}
	}
}

// TestCacheKeepsSettledReports: the cache keeps settled reports only, by
// period and number of rows, the CacheSize most recently used.
func TestCacheKeepsSettledReports(t *testing.T) {
	var c report.Cache
	rep := func(i int64, status string, rows int) *report.Report {
		return &report.Report{Index: i, Status: status, Rows: make([]report.Row, rows)}
	}
	c.Put(rep(1, "open", 2))
	c.Put(rep(2, "closed", 2))
	if c.Get(1, 2) != nil || c.Get(2, 2) != nil {
		t.Fatal("a provisional report was kept")
	}
	for i := int64(0); i < report.CacheSize; i++ {
		c.Put(rep(i, "settled", 2))
	}
	if c.Get(0, 2) == nil || c.Get(0, 3) != nil {
		t.Fatal("period 0: kept for 2 rows only")
	}
	c.Put(rep(100, "settled", 2)) // period 1, the least recently used, goes
	if c.Get(1, 2) != nil || c.Get(0, 2) == nil || c.Get(100, 2) == nil || c.Get(report.CacheSize-1, 2) == nil {
		t.Fatal("the least recently used report was not the one dropped")
	}
	c.Put(rep(100, "settled", 3))
	if c.Get(100, 2) != nil || c.Get(100, 3) == nil {
		t.Fatal("a new report of a period did not replace the old")
	}
}
