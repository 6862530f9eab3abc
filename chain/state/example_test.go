package state

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestWorkedExample runs the worked example of doc.go and the README's
// economy section and asserts its figures. Rules (testRules): base 100
// drops, 1 drop per litre saved up to 500‰ of the allowance, 2 drops per
// litre over, minimum compliance 900‰ and delivery 800‰; 10-minute
// periods from genesis G, a reading expected every minute, a 30 s reading
// window; limits conductivity 20000 and turbidity 500; 1000 L permits.
//
// Worked by hand, period 0 (G to G+10m):
//
//	saver: sells 200 L to buyer at 1 drop/L, so A = 800 L. Its meter
//	       misses 2 of its 10 readings (seq jumps): d = ⌊1000·8/10⌋ = 800‰,
//	       exactly the minimum, which passes. U = 8 × 60 L = 480 000 mL;
//	       saved = min(⌊(800 000 − 480 000)/1000⌋ = 320, ⌊800·500/1000⌋ =
//	       400) = 320 L; gross = 100 + 320 = 420 drops; c = 1000‰;
//	       reward = ⌊420 · 1000 · 800 / 10⁶⌋ = 336 drops.
//	hog:   A = 1000 L; 10 readings of 100.05 L, U = 1 000 500 mL, over by
//	       500 mL, rounded up to ⌈500/1000⌉ = 1 L; gross = 100 − 1·2 = 98
//	       drops. Conductivity is exactly at its limit 20000 in 9 readings
//	       (within: ≤) and above it in one: c = 900‰, exactly the minimum,
//	       which passes; reward = ⌊98 · 900 · 1000 / 10⁶⌋ = 88.2 drops.
//	       Its last reading is timed G+9m59.999s but finalized at G+10m29s,
//	       after the tx block at G+10m that closed the period: it counts.
//	buyer: A = 1000 + 200 = 1200 L. Three meters: its own, 10 of 10
//	       readings of 50 L; buyer-2, registered at G+4m, so expected
//	       ⌊(10m − 4m)/1m⌋ = 6, delivers 4 of 50 L; buyer-3, registered at
//	       G+9m30s, so expected ⌊30 s/1m⌋ = 0, sends 5 readings of 8 L:
//	       delivered min(5, 0) = 0 (the cap: without it D = 19 > E = 16).
//	       E = 16, D = 10 + 4 + 0 = 14, d = ⌊14 000/16⌋ = 875‰.
//	       U = 500 + 200 + 40 = 740 L; saved = min(460, 600) = 460 L;
//	       gross = 560 drops; c = 1000‰; reward = ⌊560 · 1000 · 875 / 10⁶⌋
//	       = 490 drops.
//
// The data chain reaches G+10m30s = end + window at data block 14: the
// next tx block settles the period.
func TestWorkedExample(t *testing.T) {
	f := newFixture(t)
	offer := f.offer("saver", 0, 200, drop)
	f.mustTxBlock(at(5*time.Second), offer)
	f.mustTxBlock(at(10*time.Second), f.accept("buyer", 0, offer.Hash(), 200))
	register := func(owner, device string) *chain.Tx {
		return f.tx(owner, 0, func(tx *chain.Tx) {
			tx.RegisterDevice = &chain.RegisterDevice{Device: key(device).Public(), Label: device}
		})
	}
	seq := map[string]uint64{}
	send := func(device string, when chain.Time, litresML int64, conductivity int64) *chain.Reading {
		seq[device]++
		rd := f.reading(device, seq[device], when, 0, conductivity)
		rd.Volume, rd.FlowRate = litresML, litresML*60
		rd.Sign(f.g.ChainID, key(device))
		return rd
	}
	var late *chain.Reading
	for i := 0; i < 10; i++ {
		when := at(time.Duration(i)*time.Minute + 30*time.Second)
		switch i {
		case 4:
			f.mustTxBlock(when-30_000, register("buyer", "buyer-2")) // G+4m
		case 9:
			f.mustTxBlock(when, register("buyer", "buyer-3")) // G+9m30s
		}
		var rds []*chain.Reading
		if i == 3 || i == 6 {
			seq["saver-meter"]++ // missed
		} else {
			rds = append(rds, send("saver-meter", when, 60_000, 15000))
		}
		cond := int64(20000)
		if i == 5 {
			cond = 20001
		}
		if i == 9 {
			late = send("hog-meter", at(10*time.Minute-time.Millisecond), 100_050, cond)
		} else {
			rds = append(rds, send("hog-meter", when, 100_050, cond))
		}
		rds = append(rds, send("buyer-meter", when, 50_000, 15000))
		if i >= 4 && i < 8 {
			rds = append(rds, send("buyer-2", when, 50_000, 15000))
		}
		f.mustDataBlock(when+1000, rds...)
	}
	for i := 0; i < 5; i++ {
		f.mustDataBlock(at(9*time.Minute+time.Duration(35+5*i)*time.Second), send("buyer-3", at(9*time.Minute+time.Duration(35+5*i)*time.Second), 8_000, 15000))
	}

	f.mustTxBlock(at(10 * time.Minute)) // closes period 0 (anchor: data block 10 at G+9m55s)
	if _, err := Settlements(f.store, 0); err == nil {
		t.Fatal("period 0 settled before its reading window passed")
	}
	f.mustDataBlock(at(10*time.Minute+29*time.Second), late)
	f.mustTxBlock(at(10*time.Minute + 29*time.Second)) // anchor G+10m29s < end + window: not yet
	if _, err := Settlements(f.store, 0); err == nil {
		t.Fatal("period 0 settled with the data chain at G+10m29s, before end + window")
	}
	f.mustDataBlock(at(10*time.Minute + 30*time.Second))
	f.mustTxBlock(at(10*time.Minute + 31*time.Second))

	type meter struct{ expected, readings, delivered uint64 }
	type want struct {
		afterTrades, usedML, saved, cap, over uint64
		gross, reward                         uint64 // smallest units
		delivery, compliance                  uint32
		expected, delivered                   uint64
		meters                                map[string]meter
	}
	wants := map[string]want{
		"saver": {afterTrades: 800, usedML: 480_000, saved: 320, cap: 400, gross: 420 * drop, reward: 336 * drop,
			delivery: 800, compliance: 1000, expected: 10, delivered: 8, meters: map[string]meter{"saver-meter": {10, 8, 8}}},
		"hog": {afterTrades: 1000, usedML: 1_000_500, over: 1, gross: 98 * drop, reward: 88_200_000,
			delivery: 1000, compliance: 900, expected: 10, delivered: 10, meters: map[string]meter{"hog-meter": {10, 10, 10}}},
		"buyer": {afterTrades: 1200, usedML: 740_000, saved: 460, cap: 600, gross: 560 * drop, reward: 490 * drop,
			delivery: 875, compliance: 1000, expected: 16, delivered: 14,
			meters: map[string]meter{"buyer-meter": {10, 10, 10}, "buyer-2": {6, 4, 4}, "buyer-3": {0, 5, 0}}},
	}
	recs, err := Settlements(f.store, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range recs {
		w := wants[s.Name]
		got := want{
			afterTrades: s.AllowanceAfterTrades, usedML: s.UsedML, saved: s.SavedLitres, cap: s.SavedCapLitres, over: s.OverLitres,
			gross: s.Gross, reward: s.Reward, delivery: s.DeliveryPermille, compliance: s.CompliancePermille,
			expected: s.Expected, delivered: s.Delivered, meters: map[string]meter{},
		}
		for _, m := range s.Meters {
			for name := range w.meters {
				if key(name).Public() == m.Device {
					got.meters[name] = meter{m.Expected, m.Readings, m.Delivered}
				}
			}
		}
		if !equalWant(got.meters, w.meters) || got.afterTrades != w.afterTrades || got.usedML != w.usedML || got.saved != w.saved ||
			got.cap != w.cap || got.over != w.over || got.gross != w.gross || got.reward != w.reward || got.delivery != w.delivery ||
			got.compliance != w.compliance || got.expected != w.expected || got.delivered != w.delivered {
			t.Errorf("%s:\n got %+v\nwant %+v", s.Name, got, w)
		}
		if s.ClosedHeight != 5 || s.Height != 7 || s.DataHeight != 17 || s.DataTime != at(10*time.Minute+30*time.Second) {
			t.Errorf("%s: closed at tx %d, settled at tx %d from data %d (%s)", s.Name, s.ClosedHeight, s.Height, s.DataHeight, s.DataTime)
		}
	}
	all := map[string]chain.Limits{"saver": testLimits, "hog": testLimits, "buyer": testLimits}
	checkByTheRules(t, f, 0, map[string]uint64{"saver": 800, "hog": 1000, "buyer": 1200}, all)
	if m := mustRecord(t, f, 0, "buyer").Meters; len(m) != 3 || m[0].From == 0 {
		t.Errorf("buyer's meters: %+v", m)
	}
	for _, m := range mustRecord(t, f, 0, "buyer").Meters {
		if m.Device == key("buyer-2").Public() && (m.From != at(4*time.Minute) || m.To != at(10*time.Minute)) {
			t.Errorf("buyer-2 active %s to %s, want G+4m to G+10m", m.From, m.To)
		}
	}
}

func equalWant[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestLateReadingCountsInItsPeriod: a reading timed in the last second of
// period 0 and a late one filling a gap, both finalized after the tx
// block that closed the period (within the 30 s reading window), are
// counted in period 0's settlement. The period is settled by the first tx
// block whose anchor data block is timed at end + window or later, not
// before (a data block at end + window − 1 ms may still hold a reading of
// the period).
func TestLateReadingCountsInItsPeriod(t *testing.T) {
	f := newFixture(t)
	end := at(10 * time.Minute)
	f.mustDataBlock(at(9*time.Minute), f.reading("saver-meter", 1, at(9*time.Minute), 10, 15000))
	f.mustDataBlock(at(9*time.Minute+55*time.Second), f.reading("saver-meter", 3, at(9*time.Minute+55*time.Second), 30, 15000)) // seq 2 is late
	f.mustTxBlock(end)                                                                                                          // closes period 0, anchored before the late readings
	f.mustDataBlock(end.Add(10*time.Second), f.reading("saver-meter", 2, at(9*time.Minute+50*time.Second), 20, 15000))          // fills the gap
	f.mustDataBlock(end.Add(25*time.Second), f.reading("saver-meter", 4, end-500, 40, 15000))                                   // timed in the last second
	f.mustDataBlock(end.Add(30*time.Second - time.Millisecond))
	f.mustTxBlock(end.Add(30*time.Second - time.Millisecond))
	if _, err := Settlements(f.store, 0); err == nil {
		t.Fatal("settled with the data chain 1 ms short of end + window")
	}
	f.mustDataBlock(end.Add(30 * time.Second))
	f.mustTxBlock(end.Add(30 * time.Second))
	s := mustRecord(t, f, 0, "saver")
	if s.UsedML != 100_000 || s.Readings != 4 || s.DataTime != end.Add(30*time.Second) {
		t.Errorf("saver's period 0: %s in %d readings (data time %s), want 100 L in 4 readings", formatML(s.UsedML), s.Readings, s.DataTime)
	}
	if used, err := VolumeUsed(f.store, f.src, addr("saver"), 0, f.dataHeight); err != nil || used != s.UsedML {
		t.Errorf("the data chain holds %d mL of period 0 (%v), the settlement counts %d", used, err, s.UsedML)
	}
}
