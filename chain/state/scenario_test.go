package state

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestScenarioThreePeriods runs both lanes over three 10-minute periods with
// three industries, each with one meter expected to report once a minute
// (10 readings a period). Reward rules (testRules): base 100 drops, 1 drop
// per litre saved capped at 500‰ of the allowance, penalty 2 drops per
// litre over, minimum compliance 900‰, minimum delivery 800‰. Every
// industry starts with 1000 drops and 1000 L a period; limits: conductivity
// 2000 µS/cm (20000), turbidity 5 NTU (500).
//
// Worked by hand:
//
// Period 0. saver offers 300 L at 0.5 drop/L; buyer buys 250 L (125 drops);
// the other 50 L expire.
//
//	saver: 10 × 60 L = 600 L of 750 L → 150 L saved (cap 375) → 100 + 150 = 250
//	hog:   10 × 130 L = 1300 L of 1000 L → 300 L over, penalty 600 ≥ 100 → 0
//	buyer: 10 × 120 L = 1200 L of 1250 L → 50 L saved → 100 + 50 = 150
//	balances: saver 1000+125+250 = 1375, hog 1000, buyer 1000−125+150 = 1025
//
// Period 1. The regulator raises hog's allowance to 1400 L from period 2.
// saver offers 400 L at 1 drop/L; buyer buys 200 L (200 drops); saver
// cancels the rest. saver's meter misses one reading (a seq jump); two of
// hog's readings break the conductivity limit.
//
//	saver: 9 × 60 = 540 L of 800 L → 260 L saved (cap 400) → gross 360;
//	       delivery 9/10 = 900‰ → 360 × 900‰ = 324
//	hog:   1300 L of 1000 L → gross 0; conductivity 8/10 = 800‰ < 900‰ → 0
//	buyer: 1200 L of 1200 L → 0 L saved → gross 100 → 100
//	balances: saver 1375+200+324 = 1899, hog 1000, buyer 1025−200+100 = 925
//
// Period 2. hog's new permit is in force; buyer cuts to 102 L a reading but
// buys nothing.
//
//	saver: 600 L of 1000 L → 400 L saved (cap 500) → 500
//	hog:   1300 L of 1400 L → 100 L saved → 200
//	buyer: 1020 L of 1000 L → 20 L over, penalty 40 → 60
//	balances: saver 2399, hog 1200, buyer 985
//
// Supply: 3050 drops at genesis (carol holds 50) + minted 400 + 424 + 760.
func TestScenarioThreePeriods(t *testing.T) {
	f := newFixture(t)
	seq := map[string]uint64{}
	// period runs one period's data blocks: one a minute, 30 s into it, with
	// the reading of every meter for which volume returns a positive value.
	period := func(p int, volume func(name string, i int) (litres int64, conductivity int64)) {
		for i := 0; i < 10; i++ {
			when := at(time.Duration(p)*10*time.Minute + time.Duration(i)*time.Minute + 30*time.Second)
			var rds []*chain.Reading
			for _, name := range []string{"saver", "hog", "buyer"} {
				seq[name]++
				v, c := volume(name, i)
				if v < 0 {
					continue // the meter missed this one: its seq is skipped
				}
				rds = append(rds, f.reading(name+"-meter", seq[name], when, v, c))
			}
			f.mustDataBlock(when+1000, rds...)
		}
	}
	base := map[string]int64{"saver": 60, "hog": 130, "buyer": 120}

	// Period 0.
	offer0 := f.offer("saver", 0, 300, drop/2)
	f.mustTxBlock(at(5*time.Second), offer0)
	f.mustTxBlock(at(10*time.Second), f.accept("buyer", 0, offer0.Hash(), 250))
	period(0, func(name string, i int) (int64, int64) { return base[name], 15000 })

	// Period 1: the first block settles period 0.
	offer1 := f.offer("saver", 0, 400, drop)
	f.mustTxBlock(at(10*time.Minute),
		f.tx("regulator", 0, func(tx *chain.Tx) {
			tx.SetPermit = &chain.SetPermit{Industry: addr("hog"), Allowance: 1400, Limits: testLimits}
		}),
		offer1)
	f.mustTxBlock(at(10*time.Minute+10*time.Second), f.accept("buyer", 0, offer1.Hash(), 200))
	f.mustTxBlock(at(10*time.Minute+20*time.Second), f.cancel("saver", 0, offer1.Hash()))
	if hog := f.industry("hog"); hog.Permit.Allowance != 1000 || hog.NextPermit == nil {
		t.Fatalf("hog's new permit applied too early: %+v", hog)
	}
	period(1, func(name string, i int) (int64, int64) {
		switch {
		case name == "saver" && i == 4:
			return -1, 0
		case name == "hog" && (i == 2 || i == 7):
			return base[name], 25000
		}
		return base[name], 15000
	})

	// Period 2.
	f.mustTxBlock(at(20 * time.Minute))
	if hog := f.industry("hog"); hog.Permit.Allowance != 1400 || hog.Allowance != 1400 || hog.NextPermit != nil {
		t.Fatalf("hog's permit in period 2: %+v", hog)
	}
	// Both versions of hog's permit stay on record: the genesis one up to
	// the block that opened period 2, the new one from it.
	opened := f.txHeight
	hist, err := PermitHistory(f.store, addr("hog"))
	if err != nil || len(hist) != 2 || hist[0].From != 0 || hist[0].Permit.Allowance != 1000 ||
		hist[1].From != opened || hist[1].Period != 2 || hist[1].Permit.Allowance != 1400 {
		t.Fatalf("hog's permit history: %+v, %v (period 2 opened at tx height %d)", hist, err, opened)
	}
	for h, want := range map[uint64]uint64{0: 1000, opened - 1: 1000, opened: 1400, opened + 100: 1400} {
		if p, err := PermitAt(f.store, addr("hog"), h); err != nil || p.Permit.Allowance != want {
			t.Fatalf("hog's permit at tx height %d: %+v, %v; want allowance %d", h, p, err, want)
		}
	}
	if _, err := PermitAt(f.store, addr("nobody"), opened); !errors.Is(err, ErrUnknownIndustry) {
		t.Fatalf("PermitAt of a stranger: %v, want ErrUnknownIndustry", err)
	}
	period(2, func(name string, i int) (int64, int64) {
		if name == "buyer" {
			return 102, 15000
		}
		return base[name], 15000
	})
	f.mustTxBlock(at(30 * time.Minute))
	// Period 2 is closed; it is settled once the data chain is past its
	// reading window (30 s), by the next tx block.
	f.mustDataBlock(at(30*time.Minute + 30*time.Second))
	f.mustTxBlock(at(30*time.Minute + 31*time.Second))

	type want struct {
		reward, gross, saved, over uint64
		usedL, afterTrades         uint64
		compliance, delivery       uint32
		overused, broken, under    bool
		reason                     string
	}
	wants := []map[string]want{
		{
			"saver": {reward: 250, gross: 250, saved: 150, usedL: 600, afterTrades: 750, compliance: 1000, delivery: 1000, reason: "150 L saved"},
			"hog":   {reward: 0, gross: 0, over: 300, usedL: 1300, afterTrades: 1000, compliance: 1000, delivery: 1000, overused: true, reason: "overused: used 1300 L of 1000 L allowance after trades, 300 L over"},
			"buyer": {reward: 150, gross: 150, saved: 50, usedL: 1200, afterTrades: 1250, compliance: 1000, delivery: 1000, reason: "minted 150 drops"},
		},
		{
			"saver": {reward: 324, gross: 360, saved: 260, usedL: 540, afterTrades: 800, compliance: 1000, delivery: 900, under: true, reason: "delivered 9 of 10 expected readings (900‰)"},
			"hog":   {reward: 0, gross: 0, over: 300, usedL: 1300, afterTrades: 1000, compliance: 800, delivery: 1000, overused: true, broken: true, reason: "nothing minted: conductivity within its limit in 800‰ of readings is below the minimum 900‰"},
			"buyer": {reward: 100, gross: 100, saved: 0, usedL: 1200, afterTrades: 1200, compliance: 1000, delivery: 1000, reason: "minted 100 drops"},
		},
		{
			"saver": {reward: 500, gross: 500, saved: 400, usedL: 600, afterTrades: 1000, compliance: 1000, delivery: 1000, reason: "minted 500 drops"},
			"hog":   {reward: 200, gross: 200, saved: 100, usedL: 1300, afterTrades: 1400, compliance: 1000, delivery: 1000, reason: "100 L saved"},
			"buyer": {reward: 60, gross: 60, over: 20, usedL: 1020, afterTrades: 1000, compliance: 1000, delivery: 1000, overused: true, reason: "penalty 20 L × 2 drops = 40 drops off the base 100 drops"},
		},
	}
	for p, byName := range wants {
		recs, err := Settlements(f.store, int64(p))
		if err != nil {
			t.Fatalf("period %d: %v", p, err)
		}
		if len(recs) != 3 {
			t.Fatalf("period %d: %d records", p, len(recs))
		}
		for _, s := range recs {
			w := byName[s.Name]
			got := want{
				reward: s.Reward / drop, gross: s.Gross / drop, saved: s.SavedLitres, over: s.OverLitres,
				usedL: s.UsedML / 1000, afterTrades: s.AllowanceAfterTrades,
				compliance: s.CompliancePermille, delivery: s.DeliveryPermille,
				overused: s.Overused, broken: s.LimitsBroken, under: s.UnderDelivered, reason: w.reason,
			}
			if got != w || s.Reward%drop != 0 {
				t.Errorf("period %d %s:\n got %+v\nwant %+v", p, s.Name, got, w)
			}
			if !strings.Contains(strings.Join(s.Reasons, "; "), w.reason) {
				t.Errorf("period %d %s: reasons %q do not say %q", p, s.Name, s.Reasons, w.reason)
			}
			if s.Label != f.mustLabel(int64(p)) {
				t.Errorf("label %q", s.Label)
			}
		}
	}
	// The same figures from the rules as written.
	all := map[string]chain.Limits{"saver": testLimits, "hog": testLimits, "buyer": testLimits}
	for p, afterTrades := range []map[string]uint64{
		{"saver": 750, "hog": 1000, "buyer": 1250},
		{"saver": 800, "hog": 1000, "buyer": 1200},
		{"saver": 1000, "hog": 1400, "buyer": 1000},
	} {
		checkByTheRules(t, f, int64(p), afterTrades, all)
	}
	if strings.Contains(strings.Join(mustRecord(t, f, 1, "hog").Reasons, ";"), "overused") == false {
		t.Errorf("hog's period-1 record does not say it overused too")
	}

	for name, b := range map[string]uint64{"saver": 2399, "hog": 1200, "buyer": 985, "carol": 50} {
		if got := f.balance(name); got != b*drop {
			t.Errorf("%s balance %s, want %d drops", name, FormatDrops(got), b)
		}
	}
	gen, minted, err := Supply(f.store)
	if err != nil || gen != 3050*drop || minted != 1584*drop {
		t.Errorf("supply: genesis %d minted %d (%v)", gen, minted, err)
	}

	board, err := Leaderboard(f.store, 0)
	if err != nil {
		t.Fatal(err)
	}
	if names := leaderNames(board); names != "saver,buyer,hog" {
		t.Errorf("period 0 leaderboard %s", names)
	}
	board, _ = Leaderboard(f.store, 2)
	if names := leaderNames(board); names != "saver,hog,buyer" || board[0].Rank != 1 || board[2].Rank != 3 {
		t.Errorf("period 2 leaderboard %s", names)
	}
	if last, ok, _ := LastSettledPeriod(f.store); !ok || last != 2 {
		t.Errorf("last settled %d %v", last, ok)
	}
	if _, err := Settlements(f.store, 3); !errIsNoSuchPeriod(err) {
		t.Errorf("period 3 is open, got %v", err)
	}
	d, err := GetDevice(f.store, key("saver-meter").Public())
	if err != nil || d.Data.Missing != 1 || d.Data.Readings != 29 || d.Data.LastSeq != 30 {
		t.Errorf("saver meter data %+v %v", d, err)
	}
	used, err := VolumeUsed(f.store, f.src, addr("buyer"), 2, f.dataHeight)
	if err != nil || used != 1020_000 {
		t.Errorf("VolumeUsed %d %v", used, err)
	}
}

func (f *fixture) mustLabel(p int64) string {
	periods, err := f.g.Period()
	if err != nil {
		f.t.Fatal(err)
	}
	return periods.Label(p)
}

func mustRecord(t *testing.T, f *fixture, p int64, name string) Settlement {
	t.Helper()
	recs, err := Settlements(f.store, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range recs {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no record for %s in period %d", name, p)
	return Settlement{}
}

func leaderNames(b []LeaderboardEntry) string {
	var n []string
	for _, e := range b {
		n = append(n, e.Name)
	}
	return strings.Join(n, ",")
}

func errIsNoSuchPeriod(err error) bool {
	return err != nil && strings.Contains(err.Error(), ErrNoSuchPeriod.Error())
}
