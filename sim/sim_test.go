package sim

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/alerts"
)

const testChainID = "waterchain-sim-test"

// monday is 2026-11-30T00:00:00Z, a Monday.
var monday = chain.TimeOf(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))

func newFleet(t *testing.T, cfg Config) *Fleet {
	t.Helper()
	if cfg.ChainID == "" {
		cfg.ChainID = testChainID
	}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDeterministic(t *testing.T) {
	a := newFleet(t, Config{Seed: 7, Devices: 3})
	b := newFleet(t, Config{Seed: 7, Devices: 3})
	c := newFleet(t, Config{Seed: 8, Devices: 3})
	for i := 0; i < 30; i++ {
		at := monday.Add(time.Duration(i) * time.Hour)
		ra, rb, rc := a.Next(at), b.Next(at), c.Next(at)
		for j := range ra {
			if !bytes.Equal(ra[j].Encode(), rb[j].Encode()) {
				t.Fatalf("same seed, reading %d of meter %d differs", i, j)
			}
			if bytes.Equal(ra[j].Encode(), rc[j].Encode()) {
				t.Fatalf("different seeds, same reading %d of meter %d", i, j)
			}
		}
	}
	if a.Meters()[0].Public() == a.Meters()[1].Public() {
		t.Fatal("two meters share a key")
	}
}

func TestConfig(t *testing.T) {
	key, _ := chain.GenerateKey(nil)
	for _, c := range []Config{
		{Devices: 1},
		{ChainID: "x", Devices: 0},
		{ChainID: "x", Devices: 2, Keys: []*chain.PrivateKey{key}},
		{ChainID: "x", Devices: 1, Interval: -time.Second},
	} {
		if _, err := NewFleet(c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewFleet(%+v): got %v, want ErrConfig", c, err)
		}
	}
	f := newFleet(t, Config{Devices: 1, Keys: []*chain.PrivateKey{key}})
	if f.Meters()[0].Public() != key.Public() {
		t.Fatal("given key not used")
	}
	for _, fault := range Faults {
		if got, err := ParseFault(string(fault)); err != nil || got != fault {
			t.Fatalf("ParseFault(%s) = %s, %v", fault, got, err)
		}
	}
	if _, err := ParseFault("flood"); !errors.Is(err, ErrConfig) {
		t.Fatalf("ParseFault(flood): %v", err)
	}
}

// TestCleanSeries checks the clean model over two weeks: valid signed
// readings, a totalizer that only grows, quality under the meter's limits,
// production days above nights and weekends below weekdays.
func TestCleanSeries(t *testing.T) {
	f := newFleet(t, Config{Seed: 1, Devices: 5})
	type sums struct{ weekdayNoon, weekendNoon, night, n int64 }
	agg := make([]sums, 5)
	lastTotal := make([]int64, 5)
	for h := 0; h < 14*24; h++ {
		at := monday.Add(time.Duration(h) * time.Hour)
		for i, r := range f.Next(at) {
			if err := r.ValidateBasic(); err != nil {
				t.Fatal(err)
			}
			if err := r.VerifySignature(testChainID); err != nil {
				t.Fatal(err)
			}
			if r.VolumeTotal < lastTotal[i] {
				t.Fatalf("meter %d: totalizer went back", i)
			}
			lastTotal[i] = r.VolumeTotal
			lim := f.Meters()[i].Limits()
			for _, m := range chain.QualityMeasures {
				if v, _ := r.MeasureValue(m); v > lim.Limit(m) || v <= 0 {
					t.Fatalf("meter %d %s %d outside (0, limit %d]", i, m, v, lim.Limit(m))
				}
			}
			hour, weekday := h%24, (h/24)%7
			switch {
			case hour == 11 && weekday < 5:
				agg[i].weekdayNoon += r.FlowRate
				agg[i].n++
			case hour == 11:
				agg[i].weekendNoon += r.FlowRate
			case hour == 3:
				agg[i].night += r.FlowRate
			}
		}
	}
	for i, s := range agg {
		weekday, weekend, night := s.weekdayNoon/10, s.weekendNoon/4, s.night/14
		if !(weekday > 2*weekend && weekend > night) {
			t.Errorf("meter %d: weekday noon %d, weekend noon %d, night %d mL/h: want weekday ≫ weekend > night", i, weekday, weekend, night)
		}
	}
}

// detectionBound is how many readings after a fault is switched on the
// alert rules (default thresholds) catch it, counting the reading at the
// onset as the first. The package documentation states these numbers.
func detectionBound(f Fault, readingsPerDay int) int {
	switch f {
	case FaultLeak:
		return readingsPerDay + 1
	case FaultStuck:
		return alerts.DefaultThresholds().FlatLineCount
	case FaultMissed:
		return 3
	}
	return 1
}

var faultKind = map[Fault]alerts.Kind{
	FaultLeak:        alerts.KindLeak,
	FaultStuck:       alerts.KindFlatLine,
	FaultMissed:      alerts.KindMissedReadings,
	FaultBackwards:   alerts.KindCounterBackwards,
	FaultClockSkew:   alerts.KindClockSkew,
	FaultLimitBreach: alerts.KindLimitExceeded,
	FaultForgedSig:   alerts.KindBadSignature,
}

// TestFaultsDetected runs a fleet with one meter per fault and three clean
// meters through a door (signature check) and the alert engine, with the
// production timing (hourly readings, 30 min window) and a devnet timing
// (10 s readings, 10 min days). The faults start after four clean days,
// at noon, so the leak rule has its baseline. Each must raise its alert
// within detectionBound readings; the clean meters, and the faulty ones
// before the onset, must raise none.
func TestFaultsDetected(t *testing.T) {
	for _, c := range []struct {
		name                        string
		interval, window, day, skew time.Duration
	}{
		{"production", time.Hour, 30 * time.Minute, 24 * time.Hour, 20 * time.Minute},
		{"devnet", 10 * time.Second, 30 * time.Second, 10 * time.Minute, 20 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			clean := 3
			f := newFleet(t, Config{Seed: 42, Devices: len(Faults) + clean, Interval: c.interval, DayLength: c.day, ClockSkew: c.skew})
			th := alerts.DefaultThresholds()
			th.DayLength = c.day.Milliseconds()
			eng, err := alerts.NewEngine(alerts.Config{ReadingInterval: c.interval, ReadingWindow: c.window, Thresholds: th})
			if err != nil {
				t.Fatal(err)
			}
			meterOf := map[chain.PubKey]int{}
			for i, m := range f.Meters() {
				meterOf[m.Public()] = i
			}
			perDay := int(c.day / c.interval)
			onset := 4*perDay + perDay/2 // Friday noon
			steps := onset + 2*perDay
			detected := map[int]int{} // meter → readings after onset
			for step := 0; step < steps; step++ {
				if step == onset {
					for i, fault := range Faults {
						f.Meters()[i].SetFault(fault, true)
					}
				}
				at := monday.Add(time.Duration(step) * c.interval)
				var got []alerts.Alert
				for _, r := range f.Next(at) {
					i := meterOf[r.Device]
					dc := alerts.DeviceContext{Limits: f.Meters()[i].Limits()}
					if err := r.VerifySignature(testChainID); err != nil {
						if a, ok := eng.DoorReject(r.Device, r.Seq, err.Error(), at, dc); ok {
							got = append(got, a)
						}
						continue
					}
					got = append(got, eng.Observe(r, alerts.BlockInfo{Height: uint64(step + 1), Time: at.Add(2 * time.Second)}, dc)...)
				}
				for _, a := range got {
					i := meterOf[a.Device]
					if i >= len(Faults) || step < onset {
						t.Fatalf("step %d: false alert on a healthy meter %d: %s %s", step, i, a.Kind, a.Message)
					}
					if a.Kind == faultKind[Faults[i]] {
						if _, ok := detected[i]; !ok {
							detected[i] = step - onset + 1
						}
					}
				}
			}
			for i, fault := range Faults {
				n, ok := detected[i]
				bound := detectionBound(fault, perDay)
				switch {
				case !ok:
					t.Errorf("%s: never detected", fault)
				case n > bound:
					t.Errorf("%s: detected after %d readings, bound %d", fault, n, bound)
				default:
					t.Logf("%s: detected at reading %d after onset (bound %d)", fault, n, bound)
				}
			}
		})
	}
}

func ExampleNewFleet() {
	f, _ := NewFleet(Config{ChainID: "waterchain-devnet", Seed: 1, Devices: 2, Interval: 10 * time.Second})
	f.Meters()[1].SetFault(FaultLimitBreach, true)
	rs := f.Next(chain.Time(1_795_946_400_000))
	for i, r := range rs {
		lim := f.Meters()[i].Limits()
		fmt.Println(r.Seq, r.SuspendedSolids > lim.SuspendedSolids)
	}
	// Output:
	// 1 false
	// 1 true
}
