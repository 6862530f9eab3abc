package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/audit/audittest"
	"github.com/waterchain/waterchain/node/report"
)

const drop = chain.DropUnit

// reportScenario is the small chain whose period-0 report is worked out by
// hand in TestReportByHand. Genesis G = 2026-03-01T00:00Z, 10-minute
// periods, a reading a minute expected, 1000 L allowance each, limits
// conductivity 20000 (2000 µS/cm) and turbidity 500 (5 NTU), the reward
// rules of audittest.DefaultReward (base 100 drops, 1 drop per litre
// saved up to half the allowance, 2 drops per litre over, nothing under
// 900‰ compliance or 800‰ delivery).
//
//	tx/1   G+30s  industry-1 offers 200 L at 3 drops/L
//	tx/2   G+45s  industry-2 buys 150 L of it (450 drops); industry-1
//	              reports validator-2 (run by industry-2) for two
//	              conflicting precommits at data/1
//	data/1..9  G+1m..G+9m  meter 1-1 (industry-1): 9 readings, 50 L each,
//	              conductivity 10000 but 19001 at minute 5, turbidity 300
//	              but 450 at minute 7;
//	              meter 2-1 (industry-2): readings at minutes 1..6 only,
//	              200 L each, flow −1000 mL/h at minute 2, conductivity
//	              15000 but 21000 at minute 3, turbidity 400 but 700 and
//	              501 at minutes 4 and 5
//	tx/3   G+10m1s  closes period 0 (anchor data/9)
//	data/10 G+11m   meter 1-1 again (period 1)
//	data/11 G+15m   empty: the reading window (5 min) after period 0 has
//	                passed on the data chain
//	tx/4   G+15m1s  settles period 0 (anchor data/11)
func reportScenario(t *testing.T) *audittest.Chain {
	t.Helper()
	c := reportScenarioClosed(t)
	g0 := c.Genesis.GenesisTime
	if _, err := c.DataBlock(g0.Add(15 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TxBlock(g0.Add(15*time.Minute + time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// reportScenarioClosed is reportScenario up to data/10: period 0 closed,
// not settled.
func reportScenarioClosed(t *testing.T) *audittest.Chain {
	t.Helper()
	c, _ := newChain(t, audittest.Options{Industries: 2, DevicesPerIndustry: 1})
	g0 := c.Genesis.GenesisTime
	min := func(m int) chain.Time { return g0.Add(time.Duration(m) * time.Minute) }
	ind1, ind2 := c.Industry(1), c.Industry(2)

	offer := c.Tx(ind1, func(tx *chain.Tx) { tx.OfferAllowance = &chain.OfferAllowance{Volume: 200, Price: 3 * drop} })
	if _, err := c.TxBlock(g0.Add(30*time.Second), offer); err != nil {
		t.Fatal(err)
	}
	accept := c.Tx(ind2, func(tx *chain.Tx) { tx.AcceptOffer = &chain.AcceptOffer{Offer: offer.Hash(), Volume: 150} })
	v2 := c.KeyOf(c.Genesis.Validators[1].NodeKey)
	vote := func(block string) *chain.Vote {
		v := &chain.Vote{Type: chain.Precommit, Lane: chain.LaneData, Height: 1, BlockHash: chain.HashBytes([]byte(block)), Validator: v2.Public()}
		v.Sign(c.Genesis.ChainID, v2)
		return v
	}
	evidence := c.Tx(ind1, func(tx *chain.Tx) { tx.Evidence = &chain.Evidence{VoteA: vote("a"), VoteB: vote("b")} })
	if _, err := c.TxBlock(g0.Add(45*time.Second), accept, evidence); err != nil {
		t.Fatal(err)
	}

	m1, m2 := c.Device(1, 1).Public(), c.Device(2, 1).Public()
	for m := 1; m <= 9; m++ {
		rs := []*chain.Reading{c.Reading(m1, min(m), func(r *chain.Reading) {
			r.Volume, r.VolumeTotal = 50_000, int64(m)*50_000
			r.Conductivity, r.Turbidity = 10_000, 300
			if m == 5 {
				r.Conductivity = 19_001
			}
			if m == 7 {
				r.Turbidity = 450
			}
		})}
		if m <= 6 {
			rs = append(rs, c.Reading(m2, min(m), func(r *chain.Reading) {
				r.Volume, r.VolumeTotal = 200_000, int64(m)*200_000
				r.Conductivity, r.Turbidity = 15_000, 400
				switch m {
				case 2:
					r.FlowRate = -1000
				case 3:
					r.Conductivity = 21_000
				case 4:
					r.Turbidity = 700
				case 5:
					r.Turbidity = 501
				}
			}))
		}
		if _, err := c.DataBlock(min(m), rs...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.TxBlock(min(10).Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DataBlock(min(11), c.Reading(m1, min(11), nil)); err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr(v int64) *int64 { return &v }

func noAlerts() map[alerts.Kind]uint64 {
	m := map[alerts.Kind]uint64{}
	for _, k := range alerts.Kinds {
		m[k] = 0
	}
	return m
}

// TestReportByHand checks every figure of the period-0 report against
// values worked out by hand (see reportScenario).
func TestReportByHand(t *testing.T) {
	c := reportScenario(t)
	if _, err := audit.Verify(c.Store, c.Genesis, audit.VerifyOptions{}); err != nil {
		t.Fatalf("the scenario's chain does not verify: %v", err)
	}
	rep, err := report.BuildReport(c.Store, c.Genesis, "2026-03-01T00:00")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Period != "2026-03-01T00:00" || rep.Index != 0 || rep.Status != "settled" || rep.DataHeight != 11 || rep.TxHeight != 4 {
		t.Fatalf("report header: %+v", rep)
	}
	if len(rep.Rows) != 2 {
		t.Fatalf("%d rows", len(rep.Rows))
	}
	byName := map[string]report.Row{}
	for _, r := range rep.Rows {
		byName[r.Industry] = r
	}
	limits := chain.Limits{Conductivity: 20000, Turbidity: 500}

	// industry-1: sold 150 of 1000 L → 850 L. Used 9 × 50 L = 450 000 mL.
	// 9 of 10 expected readings → 900‰. Conductivity (8·10000 + 19001)/9
	// = 11000.1 → 11000; turbidity (8·300 + 450)/9 = 316.7 → 316; volume
	// total 50 000·(1+…+9)/9 = 250 000. No exceedance, no alert.
	// Settlement: saved min(850−450, ⌊850·500/1000⌋ = 425) = 400 L,
	// gross 100 + 400 = 500 drops, reward ⌊500 · 1000 · 900 / 10⁶⌋ = 450
	// drops.
	r1 := byName["industry-1"]
	want1 := report.Row{
		Industry: "industry-1", Address: c.Industry(1).Public().Address(), Validator: "validator-1",
		Allowance: 1000, Limits: limits, Bought: 0, Sold: 150, AllowanceAfterTrades: 850,
		VolumeUsed: 450_000, Devices: 1, Readings: 9, Expected: 10, Delivered: 9, DeliveryPermille: 900,
		Measures: []report.MeasureStats{
			{Measure: "flow_rate", Unit: "L/h", Scale: 1000, Count: 9, Min: ptr(3_600_000), Avg: ptr(3_600_000), Max: ptr(3_600_000)},
			{Measure: "volume", Unit: "L", Scale: 1000, Count: 9, Min: ptr(50_000), Avg: ptr(50_000), Max: ptr(50_000)},
			{Measure: "volume_total", Unit: "L", Scale: 1000, Count: 9, Min: ptr(50_000), Avg: ptr(250_000), Max: ptr(450_000)},
			{Measure: "conductivity", Unit: "uS/cm", Scale: 10, Count: 9, Min: ptr(10_000), Avg: ptr(11_000), Max: ptr(19_001), Limit: 20000},
			{Measure: "suspended_solids", Unit: "mg/L", Scale: 10, Count: 9, Min: ptr(250), Avg: ptr(250), Max: ptr(250)},
			{Measure: "absorbance", Unit: "AU", Scale: 1000, Count: 9, Min: ptr(120), Avg: ptr(120), Max: ptr(120)},
			{Measure: "turbidity", Unit: "NTU", Scale: 100, Count: 9, Min: ptr(300), Avg: ptr(316), Max: ptr(450), Limit: 500},
		},
		Alerts:      noAlerts(),
		DropsMinted: 450 * drop,
		TradesOut:   report.Trades{Count: 1, Litres: 150, Drops: 450 * drop},
	}
	// industry-2: bought 150 → 1150 L; used 6 × 200 L = 1 200 000 mL
	// (50 L over); 6 of 10 readings → 600‰. Flow (5·3 600 000 − 1000)/6
	// = 2 999 833.3 → 2 999 833; conductivity (5·15000 + 21000)/6 =
	// 16000, one exceedance; turbidity (4·400 + 700 + 501)/6 = 466.8 →
	// 466, two exceedances; volume total 200 000·21/6 = 700 000. Alerts:
	// negative flow once, limit exceeded twice (conductivity at minute 3;
	// turbidity from minute 4, one episode through minute 5). Reward 0
	// (delivery 600‰ < 800‰; and 50 L over costs the whole base). One
	// equivocation of its validator.
	r2 := byName["industry-2"]
	alerts2 := noAlerts()
	alerts2[alerts.KindNegativeFlow] = 1
	alerts2[alerts.KindLimitExceeded] = 2
	want2 := report.Row{
		Industry: "industry-2", Address: c.Industry(2).Public().Address(), Validator: "validator-2",
		Allowance: 1000, Limits: limits, Bought: 150, Sold: 0, AllowanceAfterTrades: 1150,
		VolumeUsed: 1_200_000, Devices: 1, Readings: 6, Expected: 10, Delivered: 6, DeliveryPermille: 600,
		Measures: []report.MeasureStats{
			{Measure: "flow_rate", Unit: "L/h", Scale: 1000, Count: 6, Min: ptr(-1000), Avg: ptr(2_999_833), Max: ptr(3_600_000)},
			{Measure: "volume", Unit: "L", Scale: 1000, Count: 6, Min: ptr(200_000), Avg: ptr(200_000), Max: ptr(200_000)},
			{Measure: "volume_total", Unit: "L", Scale: 1000, Count: 6, Min: ptr(200_000), Avg: ptr(700_000), Max: ptr(1_200_000)},
			{Measure: "conductivity", Unit: "uS/cm", Scale: 10, Count: 6, Min: ptr(15_000), Avg: ptr(16_000), Max: ptr(21_000), Limit: 20000, Exceedances: 1},
			{Measure: "suspended_solids", Unit: "mg/L", Scale: 10, Count: 6, Min: ptr(250), Avg: ptr(250), Max: ptr(250)},
			{Measure: "absorbance", Unit: "AU", Scale: 1000, Count: 6, Min: ptr(120), Avg: ptr(120), Max: ptr(120)},
			{Measure: "turbidity", Unit: "NTU", Scale: 100, Count: 6, Min: ptr(400), Avg: ptr(466), Max: ptr(700), Limit: 500, Exceedances: 2},
		},
		Alerts:        alerts2,
		DropsMinted:   0,
		TradesIn:      report.Trades{Count: 1, Litres: 150, Drops: 450 * drop},
		Equivocations: 1,
	}
	g0 := c.Genesis.GenesisTime
	meterOf := map[string]chain.PubKey{"industry-1": c.Device(1, 1).Public(), "industry-2": c.Device(2, 1).Public()}
	for _, tc := range []struct {
		got, want report.Row
	}{{r1, want1}, {r2, want2}} {
		s := tc.got.Settlement
		if s == nil {
			t.Fatalf("%s: no settlement", tc.got.Industry)
		}
		if s.Reward != tc.want.DropsMinted || s.ClosedHeight != 3 || s.DataHeight != 11 || s.Height != 4 || s.DataTime != g0.Add(15*time.Minute) {
			t.Errorf("%s settlement: reward %d, closed at tx/%d, settled at tx/%d anchor data/%d (%s)", tc.got.Industry, s.Reward, s.ClosedHeight, s.Height, s.DataHeight, s.DataTime)
		}
		// The record carries the inputs of its formula, and they are the
		// figures the report finds in the data chain on its own.
		w := tc.want
		if s.UsedML != w.VolumeUsed || s.Readings != w.Readings || s.Expected != w.Expected || s.Delivered != w.Delivered ||
			s.DeliveryPermille != w.DeliveryPermille || s.AllowanceAfterTrades != w.AllowanceAfterTrades || len(s.Meters) != 1 {
			t.Errorf("%s settlement figures differ from the report's: %+v", w.Industry, s)
		} else if m := s.Meters[0]; m.Device != meterOf[w.Industry] ||
			m.From != g0 || m.To != g0.Add(10*time.Minute) || m.Expected != 10 || m.Readings != w.Readings || m.Delivered != w.Delivered || m.UsedML != w.VolumeUsed {
			t.Errorf("%s meter figures: %+v", w.Industry, m)
		}
		for _, mc := range s.Compliance {
			for _, ms := range w.Measures {
				if ms.Measure == mc.Measure && (mc.Readings != ms.Count || mc.Within != ms.Count-ms.Exceedances || mc.Limit != ms.Limit) {
					t.Errorf("%s %s compliance %+v, report counts %d readings, %d exceedances", w.Industry, mc.Measure, mc, ms.Count, ms.Exceedances)
				}
			}
		}
		tc.got.Settlement = nil
		if !reflect.DeepEqual(tc.got, tc.want) {
			g, _ := json.MarshalIndent(tc.got, "", " ")
			w, _ := json.MarshalIndent(tc.want, "", " ")
			t.Errorf("%s:\ngot  %s\nwant %s", tc.got.Industry, g, w)
		}
	}
	if len(rep.Evidence) != 1 || rep.Evidence[0].Validator != "validator-2" || rep.Evidence[0].Industry != "industry-2" || rep.Evidence[0].TxHeight != 2 || rep.Evidence[0].Height != 1 {
		t.Errorf("evidence: %+v", rep.Evidence)
	}

	// CSV: the header, then one line per industry with the same figures.
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || !reflect.DeepEqual(recs[0], report.CSVHeader()) {
		t.Fatalf("csv: %d records, header %v", len(recs), recs[0])
	}
	col := func(rec []string, name string) string {
		for i, h := range recs[0] {
			if h == name {
				return rec[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	for _, chk := range []struct{ row, col, want string }{
		{"industry-1", "allowance_after_trades_l", "850"},
		{"industry-1", "turbidity_avg", "316"},
		{"industry-1", "drops_minted", "450000000"},
		{"industry-1", "trades_out_drops", "450000000"},
		{"industry-2", "flow_rate_min", "-1000"},
		{"industry-2", "turbidity_exceedances", "2"},
		{"industry-2", "alerts_limit_exceeded", "2"},
		{"industry-2", "delivery_permille", "600"},
		{"industry-2", "equivocations", "1"},
		{"industry-1", "saved_l", "400"},
		{"industry-1", "saved_cap_l", "425"},
		{"industry-1", "gross", "500000000"},
		{"industry-2", "over_l", "50"},
		{"industry-2", "gross", "0"},
		{"industry-2", "settled_delivered", "6"},
		{"industry-2", "settled_compliance_permille", "666"},
		{"industry-2", "settled_data_height", "11"},
	} {
		for _, rec := range recs[1:] {
			if col(rec, "industry") == chk.row {
				if got := col(rec, chk.col); got != chk.want {
					t.Errorf("csv %s %s = %q, want %q", chk.row, chk.col, got, chk.want)
				}
			}
		}
	}
}

// TestReportClosedPeriod reads period 0 after the tx chain closed it and
// before the data chain passed its reading window: status "closed", the
// allowance figures the tx lane kept when it closed (not the next
// period's), the readings so far, no settlement, no drops.
func TestReportClosedPeriod(t *testing.T) {
	c := reportScenarioClosed(t)
	rep, err := report.BuildReport(c.Store, c.Genesis, "0")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "closed" || len(rep.Rows) != 2 {
		t.Fatalf("status %q, %d rows", rep.Status, len(rep.Rows))
	}
	r := rep.Rows[0]
	if r.Industry != "industry-1" || r.Sold != 150 || r.AllowanceAfterTrades != 850 || r.Limits.Conductivity != 20000 ||
		r.VolumeUsed != 450_000 || r.Settlement != nil || r.DropsMinted != 0 {
		t.Errorf("closed period row: %+v", r)
	}
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 3 || len(recs[1]) != len(report.CSVHeader()) || recs[1][len(recs[1])-1] != "" {
		t.Errorf("csv of a closed period: %v %v", recs, err)
	}
}

// TestReportOpenPeriod reads period 1, still open: provisional figures
// from the industries' records, no settlement, no drops.
func TestReportOpenPeriod(t *testing.T) {
	c := reportScenario(t)
	rep, err := report.BuildReport(c.Store, c.Genesis, "1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "open" || rep.Period != "2026-03-01T00:10" {
		t.Fatalf("status %q period %q", rep.Status, rep.Period)
	}
	r := rep.Rows[0]
	if r.Industry != "industry-1" || r.Readings != 1 || r.Expected != 10 || r.Delivered != 1 || r.DeliveryPermille != 100 ||
		r.Settlement != nil || r.DropsMinted != 0 || r.Sold != 0 || r.AllowanceAfterTrades != 1000 || r.TradesOut.Count != 0 {
		t.Errorf("open period row: %+v", r)
	}
	if rep.Rows[1].Readings != 0 || rep.Rows[1].Measures[0].Min != nil {
		t.Errorf("industry-2 has no readings in period 1: %+v", rep.Rows[1])
	}
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ",0,,,,0,") {
		t.Errorf("a measure without readings has empty min, avg, max:\n%s", buf.String())
	}
}

func TestReportBadPeriods(t *testing.T) {
	c := reportScenario(t)
	for _, tc := range []struct {
		period string
		want   error
	}{
		{"2026-03-01T00:20", report.ErrPeriodNotStarted},
		{"7", report.ErrPeriodNotStarted},
		{"2026-03", report.ErrBadPeriod},
		{"2026-03-01T00:05", report.ErrBadPeriod},
		{"-1", report.ErrBadPeriod},
		{"", report.ErrBadPeriod},
	} {
		if _, err := report.BuildReport(c.Store, c.Genesis, tc.period); !errors.Is(err, tc.want) {
			t.Errorf("period %q: %v, want %v", tc.period, err, tc.want)
		}
	}
}
