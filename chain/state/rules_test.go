package state

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// byTheRules is one industry's settlement of one period recomputed from
// the rules as the README's economy section and doc.go write them, with
// none of the settlement code: the inputs are the readings of the data
// chain (every one the test recorded), the meters' registration and
// revocation times (device records), the allowance after trades and the
// limits of the period's permit (which the test keeps track of itself).
type byTheRules struct {
	usedML, expected, delivered, readings uint64
	delivery, compliance                  uint64
	saved, over, gross, reward            uint64
}

// settleByTheRules recomputes industry name's settlement of period p of a
// devnet-style chain (fixed-length periods from genesis).
func settleByTheRules(t *testing.T, f *fixture, name string, p int64, afterTrades uint64, limits chain.Limits) byTheRules {
	t.Helper()
	length := mustDuration(t, f.g.Params.SettlementPeriod).Milliseconds()
	start := int64(f.g.GenesisTime) + p*length // devnet: periods start at genesis time
	end := start + length
	interval := f.g.Params.ReadingInterval.Std().Milliseconds()
	rr := f.g.Params.Reward

	devices, err := Devices(f.store, addr(name))
	if err != nil {
		t.Fatal(err)
	}
	var out byTheRules
	within := map[string]uint64{}
	for _, d := range devices {
		// Expected: ⌊active time in p / reading interval⌋, active from
		// registration (or period start) to revocation (or period end).
		from, to := max(start, int64(d.RegisteredTime)), end
		if d.RevokedHeight != 0 && int64(d.RevokedTime) < to {
			to = int64(d.RevokedTime)
		}
		var expected uint64
		if to > from {
			expected = uint64((to - from) / interval)
		}
		// Every reading of the meter timed in p, wherever it was
		// finalized.
		var n uint64
		for _, rd := range f.recorded {
			if rd.Device != d.Key || int64(rd.Time) < start || int64(rd.Time) >= end {
				continue
			}
			n++
			if rd.Volume > 0 {
				out.usedML += uint64(rd.Volume)
			}
			for _, m := range chain.QualityMeasures {
				if l := limits.Limit(m); l > 0 {
					if v, _ := rd.MeasureValue(m); v <= l { // at the limit is within
						within[m]++
					}
				}
			}
		}
		out.readings += n
		out.expected += expected
		out.delivered += min(n, expected) // delivered is capped per meter
	}
	if out.expected > 0 {
		out.delivery = 1000 * out.delivered / out.expected
		out.delivery = min(out.delivery, 1000) // cannot pass 1000: delivered ≤ expected
	}
	switch {
	case out.readings == 0:
		out.compliance = 0
	default:
		out.compliance = 1000
		for _, m := range chain.QualityMeasures {
			if limits.Limit(m) > 0 {
				out.compliance = min(out.compliance, 1000*within[m]/out.readings)
			}
		}
	}
	allowML := 1000 * afterTrades
	if out.usedML <= allowML {
		out.saved = min((allowML-out.usedML)/1000, afterTrades*uint64(rr.MaxSavedPermille)/1000)
		out.gross = rr.Base + out.saved*rr.PerLitreSaved
	} else {
		out.over = (out.usedML - allowML + 999) / 1000 // rounded up
		if penalty := out.over * rr.PenaltyPerLitreOver; penalty < rr.Base {
			out.gross = rr.Base - penalty
		}
	}
	if out.delivery >= uint64(rr.MinDeliveryPermille) && out.compliance >= uint64(rr.MinCompliancePermille) {
		r := new(big.Int).SetUint64(out.gross)
		r.Mul(r, new(big.Int).SetUint64(out.compliance*out.delivery))
		r.Quo(r, big.NewInt(1_000_000))
		out.reward = r.Uint64()
	}
	return out
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkByTheRules compares every settlement record of period p with
// settleByTheRules. afterTrades and limits are by industry name.
func checkByTheRules(t *testing.T, f *fixture, p int64, afterTrades map[string]uint64, limits map[string]chain.Limits) {
	t.Helper()
	recs, err := Settlements(f.store, p)
	if err != nil {
		t.Fatalf("period %d: %v", p, err)
	}
	if len(recs) != len(afterTrades) {
		t.Fatalf("period %d: %d records, want %d", p, len(recs), len(afterTrades))
	}
	for _, s := range recs {
		w := settleByTheRules(t, f, s.Name, p, afterTrades[s.Name], limits[s.Name])
		got := byTheRules{
			usedML: s.UsedML, expected: s.Expected, delivered: s.Delivered, readings: s.Readings,
			delivery: uint64(s.DeliveryPermille), compliance: uint64(s.CompliancePermille),
			saved: s.SavedLitres, over: s.OverLitres, gross: s.Gross, reward: s.Reward,
		}
		if got != w || s.AllowanceAfterTrades != afterTrades[s.Name] {
			t.Errorf("period %d %s (A = %d L, recorded %d L):\n record   %+v\n by rules %+v", p, s.Name, afterTrades[s.Name], s.AllowanceAfterTrades, got, w)
		}
	}
}

// TestSettlementByTheRules runs four 10-minute periods with everything
// settlement has to get right — trades, a permit change (allowance and a
// limit) taking effect a period later, meters missing readings, readings
// above and at limits, a meter registered mid-period, one registered 20 s
// before the period's end that still sends readings, a meter revoked
// mid-period, and in every period a reading timed in its last
// millisecond and a late reading filling a gap, both finalized after the
// tx block that closed the period — and recomputes every settlement from
// the written rules (settleByTheRules).
func TestSettlementByTheRules(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(18, 2026))
	const periods = 4
	start := func(p int64) chain.Time { return at(time.Duration(p) * 10 * time.Minute) }
	seq := map[string]uint64{}
	// Volumes per reading (mL, min and max) put industries near their
	// allowance: some periods under it, some over.
	volumeML := map[string][2]int{
		"saver-meter": {60_000, 90_000}, "hog-meter": {60_000, 80_000}, "hog-2": {20_000, 40_000},
		"buyer-meter": {70_000, 110_000}, "buyer-2": {20_000, 40_000}, "buyer-3": {10_000, 20_000},
	}
	reading := func(device string, when chain.Time) *chain.Reading {
		seq[device]++
		rd := &chain.Reading{
			Device: key(device).Public(), Seq: seq[device], Time: when,
			Volume: int64(volumeML[device][0] + rng.IntN(volumeML[device][1]-volumeML[device][0]+1)), Conductivity: int64(15_000 + rng.IntN(5_201)),
			Turbidity: int64(300 + rng.IntN(211)), SuspendedSolids: 300, Absorbance: 40,
		}
		rd.FlowRate = rd.Volume * 60
		rd.Sign(f.g.ChainID, key(device))
		return rd
	}
	// maybe is a reading that the meter misses one time in six: its
	// sequence number is skipped, a gap opens.
	maybe := func(device string, when chain.Time) []*chain.Reading {
		if rng.IntN(6) == 0 {
			seq[device]++
			return nil
		}
		return []*chain.Reading{reading(device, when)}
	}
	tx := func(name string, fill func(*chain.Tx)) *chain.Tx { return f.tx(name, 0, fill) }

	allowance := map[string]uint64{"saver": 1000, "hog": 1000, "buyer": 1000}
	limits := map[string]chain.Limits{"saver": testLimits, "hog": testLimits, "buyer": testLimits}
	type periodFigures struct {
		afterTrades map[string]uint64
		limits      map[string]chain.Limits
	}
	var figures []periodFigures
	active := map[string]bool{"saver-meter": true, "hog-meter": true, "buyer-meter": true}
	var lateGap, lateLast []*chain.Reading // readings of the previous period finalized after it closed

	for p := int64(0); p < periods; p++ {
		var offer *chain.Tx
		sold := uint64(80 + 40*p)
		for i := 0; i < 10; i++ {
			minute := start(p).Add(time.Duration(i) * time.Minute)
			if i == 0 && len(lateGap) > 0 {
				// A tx block anchored past the boundary but inside the
				// reading window must not settle yet: the late readings
				// come after it.
				f.mustDataBlock(minute.Add(5 * time.Second))
				f.mustTxBlock(minute.Add(10 * time.Second))
				f.mustDataBlock(minute.Add(15*time.Second), lateGap...)
			}
			var rds []*chain.Reading
			if i == 0 {
				rds, lateGap, lateLast = append(rds, lateLast...), nil, nil
			}
			for _, d := range []string{"saver-meter", "hog-meter", "buyer-meter", "hog-2", "buyer-2", "buyer-3"} {
				if active[d] {
					rds = append(rds, maybe(d, minute.Add(20*time.Second))...)
				}
			}
			f.mustDataBlock(minute.Add(20*time.Second), rds...)

			var txs []*chain.Tx
			switch {
			case i == 0:
				offer = tx("saver", func(tx *chain.Tx) { tx.OfferAllowance = &chain.OfferAllowance{Volume: sold + 20, Price: drop} })
				txs = append(txs, offer)
			case i == 1:
				txs = append(txs, tx("buyer", func(tx *chain.Tx) { tx.AcceptOffer = &chain.AcceptOffer{Offer: offer.Hash(), Volume: sold} }))
			case p == 0 && i == 2:
				txs = append(txs, tx("hog", func(tx *chain.Tx) { tx.RegisterDevice = &chain.RegisterDevice{Device: key("hog-2").Public()} }))
				active["hog-2"] = true
			case p == 1 && i == 2:
				txs = append(txs, tx("regulator", func(tx *chain.Tx) {
					tx.SetPermit = &chain.SetPermit{Industry: addr("hog"), Allowance: 1100, Limits: chain.Limits{Conductivity: 21000, Turbidity: 500}}
				}))
			case p == 1 && i == 3:
				txs = append(txs, tx("buyer", func(tx *chain.Tx) { tx.RegisterDevice = &chain.RegisterDevice{Device: key("buyer-2").Public()} }))
				active["buyer-2"] = true
			case p == 1 && i == 9:
				txs = append(txs, tx("buyer", func(tx *chain.Tx) { tx.RegisterDevice = &chain.RegisterDevice{Device: key("buyer-3").Public()} }))
			case p == 2 && i == 5:
				txs = append(txs, tx("hog", func(tx *chain.Tx) { tx.RevokeDevice = &chain.RevokeDevice{Device: key("hog-2").Public()} }))
				active["hog-2"] = false
			}
			f.mustTxBlock(minute.Add(40*time.Second), txs...)
		}
		// The period's last seconds: buyer-3, registered at 9:40, sends
		// three readings in period 1 (expected: ⌊20 s / 1 min⌋ = 0);
		// saver-meter holds back its reading of 9:50 and sends the one of
		// 9:55 (a gap opens); hog-meter's reading of 9:59.999 waits.
		end := start(p + 1)
		held := reading("saver-meter", end.Add(-10*time.Second))
		for _, s := range []time.Duration{45, 50, 55} {
			when := end.Add(-60*time.Second + s*time.Second)
			var rds []*chain.Reading
			if p == 1 {
				rds = append(rds, reading("buyer-3", when))
			}
			if s == 55 {
				rds = append(rds, reading("saver-meter", when))
			}
			f.mustDataBlock(when, rds...)
		}
		if p == 1 {
			active["buyer-3"] = true
		}
		lateGap = []*chain.Reading{held}
		lateLast = []*chain.Reading{reading("hog-meter", end-1)}

		at := map[string]uint64{"saver": allowance["saver"] - sold, "hog": allowance["hog"], "buyer": allowance["buyer"] + sold}
		lim := map[string]chain.Limits{}
		for k, v := range limits {
			lim[k] = v
		}
		figures = append(figures, periodFigures{at, lim})
		if p == 1 { // the regulator's change, in force from period 2
			allowance["hog"], limits["hog"] = 1100, chain.Limits{Conductivity: 21000, Turbidity: 500}
		}
	}
	// Close and settle the last period: its late readings, then the data
	// chain past end + window, then a tx block.
	end := start(periods)
	f.mustTxBlock(end)
	f.mustDataBlock(end.Add(15*time.Second), lateGap...)
	f.mustDataBlock(end.Add(20*time.Second), lateLast...)
	f.mustDataBlock(end.Add(30 * time.Second))
	f.mustTxBlock(end.Add(31 * time.Second))

	if last, ok, err := LastSettledPeriod(f.store); err != nil || !ok || last != periods-1 {
		t.Fatalf("last settled period %d %v %v, want %d", last, ok, err, periods-1)
	}
	for p, fig := range figures {
		checkByTheRules(t, f, int64(p), fig.afterTrades, fig.limits)
		recs, _ := Settlements(f.store, int64(p))
		for _, s := range recs {
			t.Logf("period %d %s: %s", p, s.Name, s.Reasons)
		}
	}
	// The scenario did reach the cases it is about.
	meter := func(p int64, name, device string) MeterFigures {
		for _, m := range mustRecord(t, f, p, name).Meters {
			if m.Device == key(device).Public() {
				return m
			}
		}
		t.Fatalf("period %d: %s has no figures for %s", p, name, device)
		return MeterFigures{}
	}
	if m := meter(1, "buyer", "buyer-3"); m.Expected != 0 || m.Readings != 3 || m.Delivered != 0 {
		t.Errorf("period 1 buyer-3, registered 20 s before the end: %+v", m)
	}
	if m := meter(1, "buyer", "buyer-2"); m.Expected != 6 {
		t.Errorf("period 1 buyer-2, registered at 3:40: %+v", m)
	}
	if m := meter(2, "hog", "hog-2"); m.Expected != 5 || m.To != start(2).Add(5*time.Minute+40*time.Second) {
		t.Errorf("period 2 hog-2, revoked at 5:40: %+v", m)
	}
	if c := mustRecord(t, f, 2, "hog").Compliance; len(c) != 2 || c[0].Limit != 21000 {
		t.Errorf("period 2 hog judged by %+v, want the new conductivity limit 21000", c)
	}
	late := 0
	for _, rd := range f.recorded {
		if p := (int64(rd.Time) - int64(genesisTime)) / 600_000; p < periods && (int64(rd.Time)-int64(genesisTime))%600_000 >= 599_999 {
			late++
		}
	}
	if late != periods {
		t.Errorf("%d readings timed in a period's last millisecond, want %d", late, periods)
	}
}
