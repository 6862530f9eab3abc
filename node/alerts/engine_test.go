package alerts

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/sim"
)

const (
	interval = time.Hour
	window   = 30 * time.Minute
)

// monday is 2026-11-30T00:00:00Z, a Monday.
var monday = chain.TimeOf(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))

// normal is a clean hourly series of one simulated meter over the given
// days from a Monday midnight (so it has normal nights and, from day 5, a
// normal weekend), with the meter's limits.
func normal(t *testing.T, days int) ([]*chain.Reading, chain.Limits) {
	t.Helper()
	f, err := sim.NewFleet(sim.Config{ChainID: "alerts-test", Seed: 3, Devices: 1, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	var out []*chain.Reading
	for h := 0; h < days*24; h++ {
		out = append(out, f.Next(monday.Add(time.Duration(h)*interval))...)
	}
	return out, f.Meters()[0].Limits()
}

// copySeries copies the readings so a test may change them.
func copySeries(rs []*chain.Reading) []*chain.Reading {
	out := make([]*chain.Reading, len(rs))
	for i, r := range rs {
		c := *r
		out[i] = &c
	}
	return out
}

func newEngine(t *testing.T, th Thresholds) *Engine {
	t.Helper()
	e, err := NewEngine(Config{ReadingInterval: interval, ReadingWindow: window, Thresholds: th})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// observed is an alert with the index of the reading that raised it.
type observed struct {
	at int
	Alert
}

// run feeds the series (block time 2 s after each reading unless blockTime
// says otherwise) and returns the alerts.
func run(t *testing.T, e *Engine, rs []*chain.Reading, limits chain.Limits, blockTime func(i int, r *chain.Reading) chain.Time) []observed {
	t.Helper()
	var out []observed
	for i, r := range rs {
		bt := r.Time.Add(2 * time.Second)
		if blockTime != nil {
			bt = blockTime(i, r)
		}
		for _, a := range e.Observe(r, BlockInfo{Height: uint64(i + 1), Time: bt}, DeviceContext{Limits: limits, IndustryName: "plant"}) {
			out = append(out, observed{i, a})
		}
	}
	return out
}

func ofKind(as []observed, k Kind) []observed {
	var out []observed
	for _, a := range as {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

// TestNormalSeriesSilent: two weeks of a healthy meter — fourteen normal
// nights, two normal weekends — raise no alert of any kind.
func TestNormalSeriesSilent(t *testing.T) {
	rs, lim := normal(t, 14)
	if as := run(t, newEngine(t, DefaultThresholds()), rs, lim, nil); len(as) > 0 {
		t.Fatalf("%d alerts on a normal series, first at reading %d: %s %s", len(as), as[0].at, as[0].Kind, as[0].Message)
	}
}

// TestRules breaks a normal series in one way per case and checks that
// the rule fires where it should — once — and that the rest is silent.
func TestRules(t *testing.T) {
	const k = 4*24 + 10 // Friday 10:00, production time
	cases := []struct {
		name     string
		kind     Kind
		edit     func(rs []*chain.Reading) []*chain.Reading
		blockAt  func(i int, r *chain.Reading) chain.Time
		wantAt   []int // indexes of the readings that raise the alerts
		wantRefs int
		check    func(t *testing.T, a Alert)
	}{
		{name: "negative flow, one episode then another", kind: KindNegativeFlow,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				for _, i := range []int{k, k + 1, k + 2, k + 5} {
					rs[i].FlowRate = -5_000
				}
				return rs
			}, wantAt: []int{k, k + 5}, wantRefs: 1},
		{name: "gross range", kind: KindGrossRange,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				rs[k].Conductivity = 3_000_000
				return rs
			}, wantAt: []int{k}, wantRefs: 1,
			check: func(t *testing.T, a Alert) {
				if a.Measure != "conductivity" || a.Value != 3_000_000 || a.Threshold != 2_000_000 {
					t.Errorf("alert %+v", a)
				}
			}},
		{name: "limit exceeded", kind: KindLimitExceeded,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				rs[k].Turbidity *= 3
				rs[k+1].Turbidity *= 3
				return rs
			}, wantAt: []int{k}, wantRefs: 1,
			check: func(t *testing.T, a Alert) {
				if a.Measure != "turbidity" || a.Severity != SeverityCritical || a.Value <= a.Threshold {
					t.Errorf("alert %+v", a)
				}
			}},
		{name: "clock skew", kind: KindClockSkew,
			blockAt: func(i int, r *chain.Reading) chain.Time {
				if i == k {
					return r.Time.Add(-16 * time.Minute) // reading 16 min ahead of its block
				}
				return r.Time.Add(2 * time.Second)
			}, wantAt: []int{k}, wantRefs: 1},
		{name: "counter backwards", kind: KindCounterBackwards,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				for i := k; i < len(rs); i++ {
					rs[i].VolumeTotal -= 50_000_000
				}
				return rs
			}, wantAt: []int{k}, wantRefs: 2},
		{name: "missed readings by seq", kind: KindMissedReadings,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				return append(rs[:k:k], rs[k+2:]...)
			}, wantAt: []int{k}, wantRefs: 2,
			check: func(t *testing.T, a Alert) {
				if a.Value != 2 {
					t.Errorf("missing %d, want 2", a.Value)
				}
			}},
		{name: "missed readings by time", kind: KindMissedReadings,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				out := append(rs[:k:k], rs[k+3:]...)
				for i := k; i < len(out); i++ {
					out[i].Seq -= 3 // no jump in seq, only in time
				}
				return out
			}, wantAt: []int{k}, wantRefs: 2},
		{name: "flat line", kind: KindFlatLine,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				for i := k; i < k+10; i++ {
					rs[i].SuspendedSolids = 777
				}
				return rs
			}, wantAt: []int{k + 5}, wantRefs: 6,
			check: func(t *testing.T, a Alert) {
				if a.Measure != "suspended_solids" || a.Value != 777 {
					t.Errorf("alert %+v", a)
				}
			}},
		{name: "spike, raised one reading late", kind: KindSpike,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				rs[k].FlowRate *= 5
				return rs
			}, wantAt: []int{k + 1}, wantRefs: 3,
			check: func(t *testing.T, a Alert) {
				if a.Measure != "flow_rate" || a.Readings[1].Seq != a.Readings[0].Seq+1 {
					t.Errorf("alert %+v", a)
				}
			}},
		{name: "leak", kind: KindLeak,
			edit: func(rs []*chain.Reading) []*chain.Reading {
				for i := k; i < len(rs); i++ {
					rs[i].FlowRate += 3_000_000
				}
				return rs
			}, wantAt: []int{5*24 + 5}, wantRefs: 4, // Saturday 05:00 closes the night
			check: func(t *testing.T, a Alert) {
				if a.Value <= a.Threshold {
					t.Errorf("alert %+v", a)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, lim := normal(t, 7)
			rs := copySeries(base)
			if c.edit != nil {
				rs = c.edit(rs)
			}
			as := run(t, newEngine(t, DefaultThresholds()), rs, lim, c.blockAt)
			got := ofKind(as, c.kind)
			var at []int
			for _, a := range got {
				at = append(at, a.at)
			}
			if len(at) != len(c.wantAt) {
				t.Fatalf("%s alerts at readings %v, want %v; all alerts: %v", c.kind, at, c.wantAt, kindsOf(as))
			}
			for i := range at {
				if at[i] != c.wantAt[i] {
					t.Fatalf("%s alerts at readings %v, want %v", c.kind, at, c.wantAt)
				}
			}
			for _, a := range got {
				if len(a.Readings) != c.wantRefs {
					t.Errorf("alert names %d readings, want %d: %v", len(a.Readings), c.wantRefs, a.Readings)
				}
				if a.Device != rs[0].Device || a.IndustryName != "plant" || a.Severity == "" || a.Message == "" || a.ID.IsZero() || a.Height == 0 {
					t.Errorf("incomplete alert %+v", a.Alert)
				}
				if c.check != nil {
					c.check(t, a.Alert)
				}
			}
			// The same series without the fault raises nothing.
			if as := run(t, newEngine(t, DefaultThresholds()), base, lim, nil); len(as) > 0 {
				t.Fatalf("normal series: %v", kindsOf(as))
			}
		})
	}
}

func kindsOf(as []observed) []string {
	var out []string
	for _, a := range as {
		out = append(out, string(a.Kind)+"@"+strconv.Itoa(a.at))
	}
	return out
}

// TestQuietVariants are conditions that look like faults but are not.
func TestQuietVariants(t *testing.T) {
	const k = 2*24 + 9
	base, lim := normal(t, 7)
	cases := []struct {
		name string
		edit func(rs []*chain.Reading)
	}{
		{"stopped plant: flow 0 for the rest of the day", func(rs []*chain.Reading) {
			for i := k; i < k+15; i++ {
				rs[i].FlowRate = 0
			}
		}},
		{"step change in production is not a spike", func(rs []*chain.Reading) {
			for i := k; i < k+8; i++ {
				rs[i].FlowRate *= 3
			}
		}},
		{"night flow 10% higher is not a leak", func(rs []*chain.Reading) {
			for i := 4 * 24; i < len(rs); i++ {
				rs[i].FlowRate = rs[i].FlowRate * 11 / 10
			}
		}},
		{"two late readings are not missed", func(rs []*chain.Reading) {
			rs[k].Time = rs[k].Time.Add(50 * time.Minute)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs := copySeries(base)
			c.edit(rs)
			if as := run(t, newEngine(t, DefaultThresholds()), rs, lim, nil); len(as) > 0 {
				t.Fatalf("alerts: %v (%s)", kindsOf(as), as[0].Message)
			}
		})
	}
}

func TestDeterministicIDs(t *testing.T) {
	base, lim := normal(t, 7)
	rs := copySeries(base)
	rs[100].FlowRate = -1            // negative flow, and a spike seen at 101
	rs[120].Conductivity = 9_000_000 // gross range, limit, and a spike seen at 121
	a := run(t, newEngine(t, DefaultThresholds()), rs, lim, nil)
	b := run(t, newEngine(t, DefaultThresholds()), rs, lim, nil)
	want := "[negative_flow@100 spike@101 gross_range@120 limit_exceeded@120 spike@121]"
	if got := fmt.Sprint(kindsOf(a)); got != want {
		t.Fatalf("alerts %s, want %s", got, want)
	}
	ids := map[chain.Hash]bool{}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Message != b[i].Message {
			t.Fatalf("engines disagree: %+v vs %+v", a[i], b[i])
		}
		if ids[a[i].ID] {
			t.Fatal("two alerts share an ID")
		}
		ids[a[i].ID] = true
	}

	// ObserveBlock, one reading per block at the same heights and times,
	// gives the same alerts, IDs included.
	e := newEngine(t, DefaultThresholds())
	var viaBlocks []Alert
	for i, r := range rs {
		blk := &chain.Block{Header: chain.Header{Height: uint64(i + 1), Time: r.Time.Add(2 * time.Second)}, Readings: []*chain.Reading{r}}
		viaBlocks = append(viaBlocks, e.ObserveBlock(blk, func(chain.PubKey) DeviceContext {
			return DeviceContext{Limits: lim, IndustryName: "plant"}
		})...)
	}
	if len(viaBlocks) != len(a) {
		t.Fatalf("ObserveBlock: %d alerts, want %d", len(viaBlocks), len(a))
	}
	for i := range a {
		if viaBlocks[i].ID != a[i].ID {
			t.Fatalf("ObserveBlock alert %d: ID differs", i)
		}
	}
}

func TestDoorReject(t *testing.T) {
	e := newEngine(t, DefaultThresholds())
	key, _ := chain.GenerateKey(nil)
	at := monday
	a, ok := e.DoorReject(key.Public(), 5, "bad signature", at, DeviceContext{IndustryName: "plant"})
	if !ok || a.Kind != KindBadSignature || !a.Local || a.Severity != SeverityCritical || a.Readings[0].Seq != 5 || a.ID.IsZero() {
		t.Fatalf("first reject: %v %+v", ok, a)
	}
	if _, ok := e.DoorReject(key.Public(), 6, "bad signature", at.Add(30*time.Second), DeviceContext{}); ok {
		t.Fatal("second reject within a minute raised an alert")
	}
	if _, ok := e.DoorReject(key.Public(), 7, "bad signature", at.Add(61*time.Second), DeviceContext{}); !ok {
		t.Fatal("reject after a minute raised none")
	}
	other, _ := chain.GenerateKey(nil)
	if _, ok := e.DoorReject(other.Public(), 1, "bad signature", at, DeviceContext{}); !ok {
		t.Fatal("another device's reject was suppressed")
	}
}

func TestNightWindow(t *testing.T) {
	th := DefaultThresholds()
	th.NightStart, th.NightEnd = 22*3_600_000, 4*3_600_000 // wraps midnight
	e := newEngine(t, th)
	day := int64(monday) / th.DayLength
	for _, c := range []struct {
		hour  int
		id    int64
		night bool
	}{{21, day, false}, {22, day, true}, {23, day, true}, {24, day, true}, {27, day, true}, {28, day + 1, false}} {
		id, in := e.night(monday.Add(time.Duration(c.hour) * time.Hour))
		if in != c.night || (in && id != c.id) {
			t.Errorf("hour %d: night %v id %d, want %v %d", c.hour, in, id, c.night, c.id)
		}
	}
	// A 10-minute day scales the window: 01:00–05:00 is 25 s to 125 s.
	th = DefaultThresholds()
	th.DayLength = 600_000
	e = newEngine(t, th)
	for _, c := range []struct {
		ms    int64
		night bool
	}{{24_999, false}, {25_000, true}, {124_999, true}, {125_000, false}} {
		if _, in := e.night(chain.Time(600_000*1000 + c.ms)); in != c.night {
			t.Errorf("%d ms into a short day: night %v, want %v", c.ms, in, c.night)
		}
	}
}

func TestThresholdsValidate(t *testing.T) {
	d := DefaultThresholds()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		edit  func(th *Thresholds)
	}{
		{"missed_gap_intervals", func(th *Thresholds) { th.MissedGapIntervals = 0 }},
		{"flat_line_count", func(th *Thresholds) { th.FlatLineCount = 1 }},
		{"day_length_ms", func(th *Thresholds) { th.DayLength = 0 }},
		{"night_start_ms", func(th *Thresholds) { th.NightStart = -1 }},
		{"night_end_ms", func(th *Thresholds) { th.NightEnd = th.NightStart }},
		{"leak_rise_permille", func(th *Thresholds) { th.LeakRisePermille = -1 }},
		{"leak_min_rise", func(th *Thresholds) { th.LeakMinRise = -1 }},
		{"leak_learn_nights", func(th *Thresholds) { th.LeakLearnNights = 0 }},
		{"leak_baseline_nights", func(th *Thresholds) { th.LeakBaselineNights = 2 }},
		{"leak_min_night_readings", func(th *Thresholds) { th.LeakMinNightReadings = 0 }},
		{"spike_window", func(th *Thresholds) { th.SpikeWindow = 2 }},
		{"spike_mads", func(th *Thresholds) { th.SpikeMADs = 0 }},
		{"spike_floor_permille", func(th *Thresholds) { th.SpikeFloorPermille = -1 }},
		{"skew_permille", func(th *Thresholds) { th.SkewPermille = 0 }},
		{"door_every_ms", func(th *Thresholds) { th.DoorEvery = -1 }},
		{"ranges.turbidity", func(th *Thresholds) { delete(th.Ranges, "turbidity") }},
		{"ranges.absorbance", func(th *Thresholds) { th.Ranges["absorbance"] = Range{Min: 5, Max: 1} }},
		{"ranges.volume", func(th *Thresholds) { th.Ranges["volume"] = Range{} }},
	}
	for _, c := range cases {
		th := DefaultThresholds()
		c.edit(&th)
		err := th.Validate()
		if !errors.Is(err, ErrInvalidThresholds) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v", c.field, err)
		}
	}
	if _, err := NewEngine(Config{ReadingInterval: 0, ReadingWindow: window, Thresholds: d}); !errors.Is(err, ErrInvalidThresholds) {
		t.Errorf("zero interval: %v", err)
	}
}

// TestLateReadingJudgedAlone: a normal day whose reading 10 arrives late,
// after reading 11 (it filled a gap in the chain). The jump raises one
// missed-readings alert; the late reading itself raises nothing on a
// normal series, and exactly a limit alert naming it when it breaks the
// permit; the readings after it raise nothing (the in-order rules did not
// see it).
func TestLateReadingJudgedAlone(t *testing.T) {
	rs, lim := normal(t, 1)
	for _, breach := range []bool{false, true} {
		late := copySeries(rs)
		if breach {
			late[10].Conductivity = lim.Conductivity + 1
		}
		order := append(append(append([]*chain.Reading{}, late[:10]...), late[11], late[10]), late[12:]...)
		as := run(t, newEngine(t, DefaultThresholds()), order, lim, func(i int, r *chain.Reading) chain.Time {
			if r == late[10] {
				return late[11].Time.Add(2 * time.Second) // recorded after 11
			}
			return r.Time.Add(2 * time.Second)
		})
		missed := ofKind(as, KindMissedReadings)
		if len(missed) != 1 || missed[0].at != 10 {
			t.Fatalf("breach %v: missed-readings alerts %v, want one at the jump to seq 12", breach, kindsOf(as))
		}
		limits := ofKind(as, KindLimitExceeded)
		switch {
		case breach && (len(limits) != 1 || limits[0].at != 11 || limits[0].Readings[0].Seq != late[10].Seq):
			t.Fatalf("a late reading over the limit: %v", kindsOf(as))
		case !breach && len(limits) != 0:
			t.Fatalf("a normal late reading: %v", kindsOf(as))
		}
		if len(as) != len(missed)+len(limits) {
			t.Fatalf("breach %v: other alerts too: %v", breach, kindsOf(as))
		}
	}
}

// TestMedian checks the lower median the spike and night rules take, on
// windows that fit its stack buffer and on longer ones (spike_window goes
// up to 1,000), and that it leaves its argument's order alone.
func TestMedian(t *testing.T) {
	for _, n := range []int{1, 2, 3, 12, 32, 33, 1000} {
		xs := make([]int64, n)
		for i := range xs {
			xs[i] = int64((i*7919)%n) - int64(n/2) // a permutation of -n/2 … n-1-n/2
		}
		before := slices.Clone(xs)
		if got, want := median(xs), int64((n-1)/2-n/2); got != want {
			t.Errorf("median of %d values = %d, want %d", n, got, want)
		}
		if !slices.Equal(xs, before) {
			t.Errorf("median of %d values reordered them", n)
		}
	}
}
