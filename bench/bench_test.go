package bench

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

func TestOptionsValidate(t *testing.T) {
	valid := Options{Validators: 4, Rates: []int{1000, 2000}, Duration: 2 * time.Second, Devices: 400}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("zero options take the defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		field  string
	}{
		{"too many validators", func(o *Options) { o.Validators = MaxValidators + 1 }, "Validators"},
		{"negative validators", func(o *Options) { o.Validators = -1 }, "Validators"},
		{"zero rate", func(o *Options) { o.Rates = []int{1000, 0} }, "Rates[1]"},
		{"rate too high", func(o *Options) { o.Rates = []int{MaxRate + 1} }, "Rates[0]"},
		{"too many steps", func(o *Options) { o.Rates = make([]int, MaxSteps+1) }, "Rates"},
		{"step too short", func(o *Options) { o.Duration = time.Millisecond }, "Duration"},
		{"step too many readings", func(o *Options) { o.Rates = []int{MaxRate}; o.Duration = MaxDuration }, "Duration"},
		{"fewer meters than validators", func(o *Options) { o.Devices = -3 }, "Devices"},
		{"too many meters", func(o *Options) { o.Devices = 4*4096 + 4 }, "Devices"},
		{"tick above duration", func(o *Options) { o.Tick = 3 * time.Second }, "Tick"},
		{"negative drain", func(o *Options) { o.Drain = -time.Second }, "Drain"},
		{"negative gateways", func(o *Options) { o.Gateways = -1 }, "Gateways"},
		{"too many gateways", func(o *Options) { o.Gateways = MaxGateways + 1 }, "Gateways"},
		{"more gateways than meters", func(o *Options) { o.Gateways = 2; o.Devices = 4 }, "Gateways"},
		{"start rate", func(o *Options) { o.StartRate = -5 }, "StartRate"},
		{"max steps", func(o *Options) { o.MaxSteps = MaxSteps + 1 }, "MaxSteps"},
		{"verify duration", func(o *Options) { o.VerifyDuration = time.Hour }, "VerifyDuration"},
		{"negative warmup", func(o *Options) { o.Warmup = -time.Second }, "Warmup"},
		{"warmup too many readings", func(o *Options) { o.Rates = []int{MaxRate}; o.Warmup = MaxDuration }, "Warmup"},
		{"of-peak zero", func(o *Options) { o.OfPeak = []float64{0.8, 0} }, "OfPeak[1]"},
		{"of-peak NaN", func(o *Options) { o.OfPeak = []float64{math.NaN()} }, "OfPeak[0]"},
		{"of-peak too high", func(o *Options) { o.OfPeak = []float64{MaxOfPeak + 1} }, "OfPeak[0]"},
		{"of-peak too many", func(o *Options) { o.OfPeak = make([]float64, MaxSteps+1) }, "OfPeak"},
		{"node profiles in one process", func(o *Options) { o.NodeCPUProfileDir = "p" }, "NodeCPUProfileDir"},
		{"node traces in one process", func(o *Options) { o.NodeTraceDir = "t" }, "NodeTraceDir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			o.Rates = append([]int(nil), valid.Rates...)
			tc.mutate(&o)
			err := o.Validate()
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("got %v, want ErrOptions naming %s", err, tc.field)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct{ q, want float64 }{{0.5, 5}, {0.99, 10}, {1, 10}, {0.1, 1}, {0.01, 1}} {
		if got := percentile(append([]float64(nil), xs...), tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

// TestSignAndIndex: a step's readings are round-robin over the meters with
// rising sequence numbers and times per meter, correctly signed, and each
// is found at its own index; the next step's are not found in this one.
func TestSignAndIndex(t *testing.T) {
	nw := &network{chainID: "waterchain-bench", devIndex: map[chain.PubKey]int{}}
	for range 8 {
		k, err := chain.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		nw.devIndex[k.Public()] = len(nw.meters)
		nw.meters = append(nw.meters, k)
	}
	nw.lastSeq, nw.lastTime = make([]uint64, 8), make([]chain.Time, 8)
	st := nw.sign(100, 100_000) // faster than 1 ms per reading: times must still rise
	next := nw.sign(20, 100)
	last := map[chain.PubKey]*chain.Reading{}
	for k, r := range st.readings {
		if err := r.VerifySignature(nw.chainID); err != nil {
			t.Fatalf("reading %d: %v", k, err)
		}
		m := nw.devIndex[r.Device]
		if m != k%8 {
			t.Fatalf("reading %d is meter %d's", k, m)
		}
		if p := last[r.Device]; p != nil && (r.Seq != p.Seq+1 || r.Time <= p.Time) {
			t.Fatalf("reading %d: seq %d time %d after seq %d time %d", k, r.Seq, r.Time, p.Seq, p.Time)
		}
		last[r.Device] = r
		if got, ok := st.index(m, readingID{r.Device, r.Seq}); !ok || got != k {
			t.Fatalf("reading %d found at %d, %v", k, got, ok)
		}
	}
	for _, r := range next.readings {
		if r.Seq <= last[r.Device].Seq || r.Time <= last[r.Device].Time {
			t.Fatalf("next step's reading seq %d time %d does not follow %d/%d", r.Seq, r.Time, last[r.Device].Seq, last[r.Device].Time)
		}
		if _, ok := st.index(nw.devIndex[r.Device], readingID{r.Device, r.Seq}); ok {
			t.Fatalf("next step's reading seq %d found in this step", r.Seq)
		}
	}
}

// TestRun runs a small benchmark end to end: four validators, a low rate
// every node keeps up with, every reading final, and the figures the JSON
// line promises.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network")
	}
	var events []Event
	res, err := Run(context.Background(), Options{
		Validators: 4, Rates: []int{200}, Duration: 2 * time.Second, Devices: 40,
		VerifyDuration: 100 * time.Millisecond, Drain: 30 * time.Second,
		Progress: func(ev Event) { events = append(events, ev) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 || res.Steps[0].Label != "rate" || res.Steps[1].Label != "half-peak" {
		t.Fatalf("steps %+v", res.Steps)
	}
	for _, s := range res.Steps {
		if s.Finalized != s.Submitted || s.Rejected != 0 || s.Submitted != int(float64(s.OfferedPerS)*2) {
			t.Errorf("%s step: %d of %d final, %d rejected (%s)", s.Label, s.Finalized, s.Submitted, s.Rejected, s.FirstError)
		}
		if s.LatencyP50Ms <= 0 || s.LatencyP99Ms < s.LatencyP50Ms || s.LatencyMaxMs < s.LatencyP99Ms || s.Blocks == 0 {
			t.Errorf("%s step: p50 %v p99 %v max %v, %d blocks", s.Label, s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs, s.Blocks)
		}
	}
	if peak := res.Steps[0].FinalizedPerS; res.FinalizedPerS != peak || peak <= 0 || peak > 200*1.05 {
		t.Errorf("finalized_per_s %v, peak step %v", res.FinalizedPerS, peak)
	}
	if res.LatencyAtPerS != res.Steps[1].OfferedPerS || res.LatencyP50Ms != res.Steps[1].LatencyP50Ms {
		t.Errorf("latencies are not the half-peak step's: %+v", res)
	}
	if want := res.FinalizedPerS / (res.VerifyPerS / 4); math.Abs(res.Ratio-want) > 1e-9 || res.Validators != 4 {
		t.Errorf("ratio %v, want %v", res.Ratio, want)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"finalized_per_s", "latency_p50_ms", "latency_p99_ms", "verify_per_s", "validators", "ratio", "conditions"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %s: %s", k, raw)
		}
	}
	if len(events) < 4 {
		t.Errorf("progress saw %d events", len(events))
	}
}

// TestRunWarmupAndOfPeak: a warmup step runs first at the first rate and
// counts toward no figure; the half-peak step follows the measured ones,
// and the of-peak steps run last at their multiple of the peak those
// found, which they do not change.
func TestRunWarmupAndOfPeak(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network")
	}
	res, err := Run(context.Background(), Options{
		Validators: 1, Rates: []int{200}, Duration: time.Second, Devices: 10, Warmup: 500 * time.Millisecond,
		OfPeak: []float64{0.5}, VerifyDuration: 50 * time.Millisecond, Drain: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 4 || res.Steps[0].Label != "warmup" || res.Steps[1].Label != "rate" || res.Steps[2].Label != "half-peak" || res.Steps[3].Label != "of-peak" {
		t.Fatalf("steps %+v", res.Steps)
	}
	warm, rate, half, of := res.Steps[0], res.Steps[1], res.Steps[2], res.Steps[3]
	if warm.OfferedPerS != 200 || warm.Submitted != 100 || warm.OfPeak != 0 {
		t.Errorf("warmup: %d/s offered, %d submitted, of-peak %v; want 200/s for half a second", warm.OfferedPerS, warm.Submitted, warm.OfPeak)
	}
	if res.FinalizedPerS != rate.FinalizedPerS || res.LatencyP50Ms != half.LatencyP50Ms || res.LatencyAtPerS != half.OfferedPerS {
		t.Errorf("headline %v/s, p50 %v at %d/s; want the rate step's %v/s and the half-peak step's p50 %v at %d/s", res.FinalizedPerS, res.LatencyP50Ms, res.LatencyAtPerS, rate.FinalizedPerS, half.LatencyP50Ms, half.OfferedPerS)
	}
	if want := int(math.Round(0.5 * rate.FinalizedPerS)); of.OfPeak != 0.5 || of.OfferedPerS != want || of.Finalized != of.Submitted {
		t.Errorf("of-peak step: ×%v, %d/s offered (want %d), %d of %d final", of.OfPeak, of.OfferedPerS, want, of.Finalized, of.Submitted)
	}
}

// TestRiseAgain: the rising steps double while they keep up and run one
// step past the first that does not, then stop.
func TestRiseAgain(t *testing.T) {
	for _, c := range []struct {
		kept []bool
		want bool
	}{
		{nil, true},
		{[]bool{true}, true},
		{[]bool{true, true, true}, true},
		{[]bool{true, false}, true},         // one step past the knee
		{[]bool{false}, true},               // the first step already past it
		{[]bool{true, false, false}, false}, // the step past the knee ran
		{[]bool{true, false, true}, false},  // it kept up: stop all the same
		{[]bool{false, false}, false},
	} {
		if got := riseAgain(c.kept); got != c.want {
			t.Errorf("riseAgain(%v) = %v, want %v", c.kept, got, c.want)
		}
	}
}
