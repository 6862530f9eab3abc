package bench

import (
	"errors"
	"testing"
)

// TestScalingCompare works the ratios to linear growth by hand: each
// size's latency from acceptance over the first size's times n ÷ n₀.
func TestScalingCompare(t *testing.T) {
	size := func(n int, p50, p99 float64) ScalingSize {
		return ScalingSize{Validators: n, Finalized: 100, Submitted: 100, AcceptedP50Ms: p50, AcceptedP99Ms: p99}
	}
	r := &ScalingResult{Sizes: []ScalingSize{
		size(4, 40, 50), size(8, 80, 90), size(16, 150, 250),
	}}
	r.compare()
	for i, want := range [][2]float64{{1, 1}, {1, 0.9}, {150.0 / 160, 250.0 / 200}} {
		s := r.Sizes[i]
		if !near(s.P50VsLinear, want[0]) || !near(s.P99VsLinear, want[1]) {
			t.Errorf("%d validators: p50 %.3f, p99 %.3f of linear; want %.3f, %.3f", s.Validators, s.P50VsLinear, s.P99VsLinear, want[0], want[1])
		}
	}
	if !r.P50Linear || r.P99Linear {
		t.Errorf("verdicts p50 %v p99 %v; want true, false (the p99 at 16 is 1.25 of linear)", r.P50Linear, r.P99Linear)
	}

	// A size that left accepted readings unfinalized has not kept up,
	// whatever the latencies of those it finalized.
	r = &ScalingResult{Sizes: []ScalingSize{size(4, 40, 50), size(8, 40, 50)}}
	r.Sizes[1].Finalized = 90
	r.compare()
	if r.P50Linear || r.P99Linear {
		t.Errorf("verdicts p50 %v p99 %v with 90 of 100 readings final; want false, false", r.P50Linear, r.P99Linear)
	}

	// Nothing measured is no verdict.
	r = &ScalingResult{}
	r.compare()
	if r.P50Linear || r.P99Linear {
		t.Errorf("verdicts p50 %v p99 %v with no size measured; want false, false", r.P50Linear, r.P99Linear)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestScalingOptionsValidate(t *testing.T) {
	if err := (ScalingOptions{}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, o := range []ScalingOptions{
		{Sizes: []int{7, 4}},
		{Sizes: []int{4, 4, 7}},
		{Sizes: []int{4, MaxValidators + 1}},
		{Rate: -1},
		{Sizes: []int{4, 16}, Devices: 20_000}, // more than 4 industries may register
	} {
		if err := o.Validate(); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: got %v, want ErrOptions", o, err)
		}
	}
}
