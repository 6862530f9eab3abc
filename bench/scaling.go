package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Defaults of RunScaling: issue 16's table, 500 readings/s on 4, 7, 10 and
// 16 validators.
var DefaultScalingSizes = []int{4, 7, 10, 16}

const (
	DefaultScalingRate    = 500
	DefaultScalingDevices = 4000
	DefaultScalingWarmup  = 10 * time.Second
	// DefaultScalingDuration is the measured step's length.
	DefaultScalingDuration = 15 * time.Second
)

// ScalingOptions configures RunScaling: one offered rate on networks of
// several sizes, each its validators as processes (Options.Processes) on
// a fresh chain, one after another.
//
// The meters are the same number at every size (Devices), dealt among the
// industries, and a warmup step at the rate comes before the measured one:
// a meter's first reading adds its record to the state, which moves every
// leaf of the state tree after it, so with meters per validator (the
// plain bench's default) every reading of a 16-validator step at 500/s
// was a meter's first and the larger network paid for a cold state too.
type ScalingOptions struct {
	// Sizes are the networks' validators, ascending; the first is the
	// base each other size is compared with.
	Sizes []int
	// Rate is the offered readings/s of the measured step.
	Rate int
	// Devices is the meters registered in genesis at every size.
	Devices int
	// Warmup is the unmeasured step at Rate before the measured one (0:
	// DefaultScalingWarmup; it should be long enough for every meter to
	// read once: Devices ÷ Rate seconds).
	Warmup time.Duration
	// Duration is the measured step's length.
	Duration       time.Duration
	VerifyDuration time.Duration
	// Binary, NodeLogLevel, Logger and Progress are as in Options.
	Binary       string
	NodeLogLevel string
	Logger       *slog.Logger
	Progress     func(Event)
}

func (o ScalingOptions) withDefaults() ScalingOptions {
	if len(o.Sizes) == 0 {
		o.Sizes = DefaultScalingSizes
	}
	if o.Rate == 0 {
		o.Rate = DefaultScalingRate
	}
	if o.Devices == 0 {
		o.Devices = DefaultScalingDevices
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultScalingWarmup
	}
	if o.Duration == 0 {
		o.Duration = DefaultScalingDuration
	}
	return o
}

// options are the plain bench's options for the network of n validators.
func (o ScalingOptions) options(n int) Options {
	return Options{
		Validators: n, Processes: true, Binary: o.Binary, NodeLogLevel: o.NodeLogLevel,
		Rates: []int{o.Rate}, Warmup: o.Warmup, Duration: o.Duration, Devices: o.Devices,
		VerifyDuration: o.VerifyDuration, SkipHalfPeak: true, Logger: o.Logger, Progress: o.Progress,
	}
}

// Validate checks o as RunScaling would use it.
func (o ScalingOptions) Validate() error {
	o = o.withDefaults()
	for i := 1; i < len(o.Sizes); i++ {
		if o.Sizes[i] <= o.Sizes[i-1] {
			return fmt.Errorf("%w: Sizes: %v; want validator counts in ascending order, each once", ErrOptions, o.Sizes)
		}
	}
	if o.Rate < 1 || o.Rate > MaxRate {
		return fmt.Errorf("%w: Rate: %d readings/s; want 1 to %d", ErrOptions, o.Rate, MaxRate)
	}
	for _, n := range o.Sizes {
		if err := o.options(n).Validate(); err != nil {
			return fmt.Errorf("%d validators: %w", n, err)
		}
	}
	return nil
}

// ScalingSize is one network's measured step.
type ScalingSize struct {
	Validators    int     `json:"validators"`
	FinalizedPerS float64 `json:"finalized_per_s"`
	Finalized     int     `json:"finalized"`
	Submitted     int     `json:"submitted"`
	// Latencies as Step's: from the first request, and from acceptance.
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	AcceptedP50Ms float64 `json:"accepted_latency_p50_ms"`
	AcceptedP99Ms float64 `json:"accepted_latency_p99_ms"`
	Blocks        int     `json:"blocks"`
	// NodesCPUSeconds is what all the node processes used in the step.
	NodesCPUSeconds float64 `json:"nodes_cpu_s"`
	// P50VsLinear and P99VsLinear are the latencies from acceptance over
	// the base size's scaled by Validators ÷ base: at most 1 where the
	// latency grew no faster than n.
	P50VsLinear float64 `json:"p50_vs_linear"`
	P99VsLinear float64 `json:"p99_vs_linear"`
	// VerifyPerS is this run's crypto/ed25519 rate on all cores.
	VerifyPerS float64 `json:"verify_per_s"`
}

// ScalingResult is RunScaling's: a row per size, and whether the median
// and the p99 from acceptance grew no faster than n at every size.
type ScalingResult struct {
	RatePerS  int           `json:"rate_per_s"`
	Devices   int           `json:"devices"`
	Sizes     []ScalingSize `json:"sizes"`
	P50Linear bool          `json:"p50_linear"`
	P99Linear bool          `json:"p99_linear"`
	// Conditions are the last network's.
	Conditions Conditions `json:"conditions"`
}

// RunScaling runs the bench at o.Rate on a network of each of o.Sizes
// validators in turn and compares each size's latency with the first's.
// It stops at the first network that fails, returning the sizes measured
// before it with the error.
func RunScaling(ctx context.Context, o ScalingOptions) (*ScalingResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	res := &ScalingResult{RatePerS: o.Rate, Devices: o.Devices}
	// A size that fails leaves the verdicts false: the sizes before it
	// keep their ratios.
	fail := func(err error) (*ScalingResult, error) {
		res.compare()
		res.P50Linear, res.P99Linear = false, false
		return res, err
	}
	for _, n := range o.Sizes {
		if o.Progress != nil {
			o.Progress(Event{Message: fmt.Sprintf("%d validators: %d readings/s from %d meters, %s warmup, %s measured", n, o.Rate, o.Devices, o.Warmup, o.Duration)})
		}
		r, err := Run(ctx, o.options(n))
		if err != nil {
			return fail(fmt.Errorf("%d validators: %w", n, err))
		}
		i := slices.IndexFunc(r.Steps, func(s Step) bool { return s.Label != "warmup" })
		if i < 0 {
			return fail(fmt.Errorf("%d validators: no measured step", n))
		}
		res.Sizes = append(res.Sizes, scalingSize(n, &r.Steps[i], r.VerifyPerS))
		res.Conditions = r.Conditions
	}
	res.compare()
	return res, nil
}

func scalingSize(n int, s *Step, verify float64) ScalingSize {
	cpu := 0.0
	for _, c := range s.NodeCPUSeconds {
		cpu += c
	}
	return ScalingSize{
		Validators: n, FinalizedPerS: s.FinalizedPerS, Finalized: s.Finalized, Submitted: s.Submitted,
		LatencyP50Ms: s.LatencyP50Ms, LatencyP99Ms: s.LatencyP99Ms, AcceptedP50Ms: s.AcceptedP50Ms, AcceptedP99Ms: s.AcceptedP99Ms,
		Blocks: s.Blocks, NodesCPUSeconds: cpu, VerifyPerS: verify,
	}
}

// compare sets each size's ratios to linear growth from the first size,
// and the verdicts. A size that left readings it accepted unfinalized
// (its latencies are of those that made it) does not count as linear.
func (r *ScalingResult) compare() {
	r.P50Linear, r.P99Linear = len(r.Sizes) > 0, len(r.Sizes) > 0
	if len(r.Sizes) == 0 {
		return
	}
	base := r.Sizes[0]
	for i := range r.Sizes {
		s := &r.Sizes[i]
		scale := float64(s.Validators) / float64(base.Validators)
		s.P50VsLinear = ratio(s.AcceptedP50Ms, base.AcceptedP50Ms*scale)
		s.P99VsLinear = ratio(s.AcceptedP99Ms, base.AcceptedP99Ms*scale)
		kept := s.Finalized >= s.Submitted && s.Submitted > 0 && base.AcceptedP50Ms > 0
		r.P50Linear = r.P50Linear && kept && s.P50VsLinear <= 1
		r.P99Linear = r.P99Linear && kept && s.P99VsLinear <= 1
	}
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
