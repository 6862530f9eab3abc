package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/waterchain/waterchain/bench/verifyrate"
)

// ErrOptions is returned (wrapped, naming the field) for invalid Options.
var ErrOptions = errors.New("bench: invalid options")

// Defaults of the zero fields of Options.
const (
	DefaultValidators     = 4
	DefaultStartRate      = 1000
	DefaultMaxSteps       = 8
	DefaultDuration       = 10 * time.Second
	DefaultDevicesPerNode = 1000
	DefaultTick           = 50 * time.Millisecond
	DefaultDrain          = 15 * time.Second
	DefaultMaxP99         = 5 * time.Second
	DefaultVerifyDuration = 3 * time.Second
)

// Limits of Options, so that a typo cannot ask for a day-long run or more
// readings than memory holds.
const (
	MaxValidators = 16
	MaxRate       = 1_000_000
	MaxSteps      = 32
	// MaxOfPeak bounds Options.OfPeak's multiples of the peak.
	MaxOfPeak   = 16
	MaxDuration = 10 * time.Minute
	// MaxGateways bounds Options.Gateways.
	MaxGateways = 64
	// MaxStepReadings bounds the readings signed for one step (rate ×
	// duration).
	MaxStepReadings = 5_000_000
)

// Options shape a run. Zero fields take the Default* values.
type Options struct {
	// Validators is the number of validator nodes, all in this process
	// unless Processes is set.
	Validators int
	// Processes runs each validator as an OS process of the waterchain
	// binary ("waterchain run --home DIR") and drives it over its HTTP
	// API: readings POSTed in batches, finality from validator-1's
	// /v1/events, and each node's CPU time per step.
	Processes bool
	// Binary is the waterchain executable the processes run; "" means
	// this program (os.Executable), which must then be waterchain.
	Binary string
	// NoRetry makes overload refusals (429, 503, a full mempool) final:
	// by default the bench, like a gateway, sends those readings again
	// after the answer's retry_after_ms (its Retry-After when it has
	// none), in order, for at most Drain after the step.
	NoRetry bool
	// Gateways is the number of gateways sending to each validator
	// (default 1). A validator's meters are dealt among its gateways, each
	// meter always through the same one, and each gateway sends one
	// request at a time and waits out its own Retry-After, so that with
	// more than one the requests of an industry no longer come and go
	// back together, as those of a site's several gateways would not.
	Gateways int
	// NodeLogLevel is passed to the processes' --log-level ("" keeps
	// their config's); their output is in DIR/net/validator-N/node.log.
	NodeLogLevel string
	// NodeCPUProfileDir, with Processes, makes each node write a CPU
	// profile of its run to NodeCPUProfileDir/<node name>.pprof (run
	// --cpuprofile), written when the node stops.
	NodeCPUProfileDir string
	// NodeStepProfiles, with NodeCPUProfileDir, profiles each step apart
	// instead of the whole run: every node serves Go's profiles on a
	// loopback port of its own (run --pprof), and while a step submits,
	// the bench takes a CPU profile of that window from each node, to
	// NodeCPUProfileDir/<node name>-<label>-<rate>.pprof.
	NodeStepProfiles bool
	// NodeTraceDir, with Processes, makes each node write a runtime
	// execution trace of its run to NodeTraceDir/<node name>.trace (run
	// --trace).
	NodeTraceDir string
	// TimelineFile, when set, gets each step's figures second by second
	// appended (offered, sent, refused, accepted, final; with Processes
	// validator-1's admission window, rate and mempool): what a jump in
	// the offered rate does in its first seconds.
	TimelineFile string
	// Rates are the offered rates (readings/s) of the steps, in order.
	// Empty means auto-rising: StartRate, doubling, at most MaxSteps steps.
	Rates     []int
	StartRate int
	MaxSteps  int
	// Warmup, when set, runs a step of this length at the first rate
	// (Rates[0], or StartRate) before the measured steps, labelled
	// "warmup": the network's admission window and rate estimate then
	// start the first measured step warm instead of from their floor. It
	// counts toward no figure of the Result.
	Warmup time.Duration
	// OfPeak are steps run after the others at these multiples of the
	// peak those found (0.8, 2, 4: 80%, twice and four times the peak),
	// on the network they warmed, labelled "of-peak"; they count toward
	// no headline figure either (the peak stays that of the steps before
	// them).
	OfPeak []float64
	// Duration is how long each step submits readings.
	Duration time.Duration
	// Devices is the number of meters (rounded up to a multiple of
	// Validators), registered in genesis; each sends to one validator.
	// Default: DefaultDevicesPerNode per validator.
	Devices int
	// Tick is the submission interval: each tick submits the readings due
	// by then, one batch per gateway (Gateways).
	Tick time.Duration
	// Drain is how long a step waits after its last submission for its
	// readings to be final.
	Drain time.Duration
	// MaxP99 stops auto-rising rates once a step's p99 latency exceeds it.
	MaxP99 time.Duration
	// VerifyDuration is how long the raw verification rate is measured.
	VerifyDuration time.Duration
	// SkipHalfPeak leaves out the last step at half the peak rate (the
	// latency figures are then those of the peak step).
	SkipHalfPeak bool
	// Dir is where the network is written; "" means a temporary directory,
	// removed at the end.
	Dir string
	// Logger receives the in-process nodes' logs; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called after each phase and step (from Run's
	// goroutine), for a live table.
	Progress func(Event)
}

// Event is what Progress receives: a finished step, or a message about the
// run ("verify", "network", "sign").
type Event struct {
	Step    *Step
	Message string
}

func (o Options) withDefaults() Options {
	if o.Validators == 0 {
		o.Validators = DefaultValidators
	}
	if o.StartRate == 0 {
		o.StartRate = DefaultStartRate
	}
	if o.MaxSteps == 0 {
		o.MaxSteps = DefaultMaxSteps
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Devices == 0 {
		o.Devices = DefaultDevicesPerNode * o.Validators
	}
	if o.Validators > 0 && o.Devices > 0 && o.Devices%o.Validators != 0 {
		o.Devices += o.Validators - o.Devices%o.Validators
	}
	if o.Tick == 0 {
		o.Tick = DefaultTick
	}
	if o.Gateways == 0 {
		o.Gateways = 1
	}
	if o.Drain == 0 {
		o.Drain = DefaultDrain
	}
	if o.MaxP99 == 0 {
		o.MaxP99 = DefaultMaxP99
	}
	if o.VerifyDuration == 0 {
		o.VerifyDuration = DefaultVerifyDuration
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports the first invalid field of o (after defaults).
func (o Options) Validate() error {
	o = o.withDefaults()
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrOptions, field, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Validators < 1 || o.Validators > MaxValidators:
		return bad("Validators", "%d; want 1 to %d", o.Validators, MaxValidators)
	case o.StartRate < 1 || o.StartRate > MaxRate:
		return bad("StartRate", "%d readings/s; want 1 to %d", o.StartRate, MaxRate)
	case o.MaxSteps < 1 || o.MaxSteps > MaxSteps:
		return bad("MaxSteps", "%d; want 1 to %d", o.MaxSteps, MaxSteps)
	case len(o.Rates) > MaxSteps:
		return bad("Rates", "%d steps; want at most %d", len(o.Rates), MaxSteps)
	case o.Duration < 100*time.Millisecond || o.Duration > MaxDuration:
		return bad("Duration", "%s; want 100ms to %s", o.Duration, MaxDuration)
	case o.Devices < o.Validators || o.Devices > o.Validators*4096:
		return bad("Devices", "%d; want %d to %d (4096 meters per industry in genesis)", o.Devices, o.Validators, o.Validators*4096)
	case o.Tick < time.Millisecond || o.Tick > o.Duration:
		return bad("Tick", "%s; want 1ms to the step duration %s", o.Tick, o.Duration)
	case o.Gateways < 1 || o.Gateways > MaxGateways || o.Gateways*o.Validators > o.Devices:
		return bad("Gateways", "%d per validator; want 1 to %d, and no more than the meters (%d for %d validators)", o.Gateways, MaxGateways, o.Devices, o.Validators)
	case o.Drain < 0 || o.Drain > MaxDuration:
		return bad("Drain", "%s; want 0 to %s", o.Drain, MaxDuration)
	case o.MaxP99 < 0:
		return bad("MaxP99", "%s; want a positive duration", o.MaxP99)
	case o.VerifyDuration < 10*time.Millisecond || o.VerifyDuration > time.Minute:
		return bad("VerifyDuration", "%s; want 10ms to 1m", o.VerifyDuration)
	case o.NodeCPUProfileDir != "" && !o.Processes:
		return bad("NodeCPUProfileDir", "profiles are written by node processes; set Processes (--processes) too, or profile the whole in-process run with --cpuprofile")
	case o.NodeStepProfiles && o.NodeCPUProfileDir == "":
		return bad("NodeStepProfiles", "profiles of each step need a directory: set NodeCPUProfileDir (--node-cpuprofile) too")
	case o.NodeTraceDir != "" && !o.Processes:
		return bad("NodeTraceDir", "traces are written by node processes; set Processes (--processes) too")
	}
	if o.Warmup < 0 || o.Warmup > MaxDuration {
		return bad("Warmup", "%s; want 0 to %s", o.Warmup, MaxDuration)
	}
	if len(o.OfPeak) > MaxSteps {
		return bad("OfPeak", "%d steps; want at most %d", len(o.OfPeak), MaxSteps)
	}
	for i, f := range o.OfPeak {
		if !(f > 0 && f <= MaxOfPeak) {
			return bad(fmt.Sprintf("OfPeak[%d]", i), "%g; want a multiple of the peak above 0 and at most %d", f, MaxOfPeak)
		}
	}
	for i, r := range o.Rates {
		if r < 1 || r > MaxRate {
			return bad(fmt.Sprintf("Rates[%d]", i), "%d readings/s; want 1 to %d", r, MaxRate)
		}
	}
	for _, r := range append([]int{o.StartRate}, o.Rates...) {
		if n := stepReadings(r, o.Duration); n > MaxStepReadings {
			return bad("Duration", "%s at %d readings/s is %d readings in a step; at most %d", o.Duration, r, n, MaxStepReadings)
		}
	}
	if o.Warmup > 0 {
		first := o.firstRate()
		if n := stepReadings(first, o.Warmup); n > MaxStepReadings {
			return bad("Warmup", "%s at %d readings/s is %d readings; at most %d", o.Warmup, first, n, MaxStepReadings)
		}
	}
	return nil
}

// Result is a run's figures. Its JSON is the last line of waterchain bench.
type Result struct {
	// FinalizedPerS is the peak: the best finalized rate of any step.
	FinalizedPerS float64 `json:"finalized_per_s"`
	// Latency percentiles, first request to final, of the half-peak step
	// (of the peak step with SkipHalfPeak), and from the request that got
	// each reading accepted (Step.AcceptedP50Ms).
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	AcceptedP50Ms float64 `json:"accepted_latency_p50_ms"`
	AcceptedP99Ms float64 `json:"accepted_latency_p99_ms"`
	// LatencyAtPerS is the offered rate of the step those latencies are of.
	LatencyAtPerS int `json:"latency_at_per_s"`
	// VerifyPerS is crypto/ed25519.Verify per second on all cores: the
	// mean of a measurement before the steps and one after them.
	VerifyPerS float64 `json:"verify_per_s"`
	// BatchVerifyPerS is the chain's batch verification (ZIP-215,
	// curve25519-voi, batches of 64) per second on all cores, for context:
	// it is what the nodes use.
	BatchVerifyPerS float64 `json:"batch_verify_per_s"`
	Validators      int     `json:"validators"`
	// Ratio is FinalizedPerS ÷ (VerifyPerS ÷ Validators).
	Ratio      float64    `json:"ratio"`
	Conditions Conditions `json:"conditions"`
	Steps      []Step     `json:"steps"`
}

// Conditions are what the figures depend on.
type Conditions struct {
	Cores       int     `json:"cores"` // GOMAXPROCS
	CPUs        int     `json:"cpus"`
	LoadAvg     string  `json:"load_avg,omitempty"` // /proc/loadavg at the start
	StepSeconds float64 `json:"step_s"`
	Devices     int     `json:"devices"`
	TickMs      float64 `json:"tick_ms"`
	// Gateways is Options.Gateways: gateways per validator.
	Gateways     int    `json:"gateways_per_validator"`
	Ingestion    string `json:"ingestion"`
	Network      string `json:"network"`
	FinalityNode string `json:"finality_node"`
	Params       string `json:"params"`
	// VerifyBeforePerS and VerifyAfterPerS are the two measurements
	// whose mean is Result.VerifyPerS.
	VerifyBeforePerS float64 `json:"verify_before_per_s"`
	VerifyAfterPerS  float64 `json:"verify_after_per_s,omitempty"`
	Go               string  `json:"go"`
	Platform         string  `json:"platform"`
	// Processes is set when each validator ran as an OS process of its
	// own.
	Processes bool `json:"processes"`
}

// LatencySplit divides the latency from acceptance of a step's accepted
// readings (with Processes) into the request that got a reading accepted
// (sent to answered), its wait for a block (answered to the time its
// block's proposer wrote in the header when building it) and the block's
// way to final (built to validator-1's block event): medians, and means
// over the slowest 1% of the readings (the tail beyond the p99). The
// header time is the proposer's clock to the millisecond; the processes
// share this machine's clock.
type LatencySplit struct {
	RequestP50Ms  float64 `json:"request_p50_ms"`
	QueueP50Ms    float64 `json:"queue_p50_ms"`
	BlockP50Ms    float64 `json:"block_p50_ms"`
	TailRequestMs float64 `json:"tail_request_ms"`
	TailQueueMs   float64 `json:"tail_queue_ms"`
	TailBlockMs   float64 `json:"tail_block_ms"`
}

// Step is one offered rate's figures.
type Step struct {
	Label       string `json:"label"` // "warmup", "rise", "rate", "half-peak" or "of-peak"
	OfferedPerS int    `json:"offered_per_s"`
	// OfPeak is the multiple of the peak offered, for an "of-peak" step.
	OfPeak        float64 `json:"of_peak,omitempty"`
	SubmittedPerS float64 `json:"submitted_per_s"`
	// AcceptedPerS is the readings the door accepted per second of
	// submission.
	AcceptedPerS float64 `json:"accepted_per_s"`
	// Submitted counts the readings accepted, Rejected those refused for
	// good (one by one, in a whole-batch answer, or lost with a failed
	// request).
	Submitted int `json:"submitted"`
	Rejected  int `json:"rejected"`
	// RefusedAnswers counts the batches refused whole with HTTP 429 or
	// 503 (with Processes).
	RefusedAnswers int `json:"refused_answers"`
	// Retried counts the readings sent again after an overload refusal
	// (a reading refused twice counts twice); Rejected has those still
	// refused when the drain ended.
	Retried   int `json:"retried"`
	Finalized int `json:"finalized"`
	// Skipped counts the readings of the step's meters that the chain
	// recorded as missing during the step: a later reading of the same
	// meter was finalized first, so the earlier one can never be.
	Skipped       int     `json:"skipped"`
	FinalizedPerS float64 `json:"finalized_per_s"`
	// Latency of the accepted readings to validator-1's block event, from
	// their first request: what a meter waits, a refused reading's
	// Retry-After and its later requests included.
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`
	// The same latency from the request that got each reading accepted:
	// what the node's admission bounds (mempool.admit_wait). Equal to the
	// above for readings accepted at their first request.
	AcceptedP50Ms float64 `json:"accepted_latency_p50_ms"`
	AcceptedP99Ms float64 `json:"accepted_latency_p99_ms"`
	AcceptedMaxMs float64 `json:"accepted_latency_max_ms"`
	// AcceptedSplit divides the latency from acceptance into its parts.
	AcceptedSplit *LatencySplit `json:"accepted_split,omitempty"`
	Blocks        int           `json:"blocks"`
	MaxBlock      int           `json:"max_block_readings"`
	// LateRounds counts the step's data blocks finalized in a round above
	// 0: each cost at least one propose timeout.
	LateRounds  int     `json:"late_round_blocks"`
	SignSeconds float64 `json:"sign_s"`
	// NodeCPUSeconds is the CPU time (user + system) each node process
	// used from the step's first submission to its end (with Processes,
	// on Linux; validator-1 first).
	NodeCPUSeconds []float64 `json:"node_cpu_s,omitempty"`
	// BenchCPUSeconds is the bench process's CPU time over the same span
	// (on Linux): the submitters and tracker, and with the validators in
	// process, the validators too.
	BenchCPUSeconds float64 `json:"bench_cpu_s"`
	// FirstError is the first refusal of the door, if any.
	FirstError string `json:"first_error,omitempty"`
}

// kept reports whether the network kept up with the step: most of it
// finalized, at most maxP99 late.
func (s *Step) kept(maxP99 time.Duration) bool {
	return s.FinalizedPerS >= 0.9*float64(s.OfferedPerS) && s.LatencyP99Ms <= float64(maxP99.Milliseconds())
}

// Run measures the verification rate, starts the network and runs the
// steps. It stops early, returning what it has with ctx's error, when ctx
// ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	progress := func(ev Event) {
		if o.Progress != nil {
			o.Progress(ev)
		}
	}
	res := &Result{Validators: o.Validators, Conditions: conditions(o)}

	// The machine is shared: the verification rate is measured before and
	// after the steps, and the bound uses their mean.
	measure := func(when string) (single, batch float64, err error) {
		progress(Event{Message: fmt.Sprintf("measuring ed25519 verification %s the steps on %d cores for %s", when, runtime.GOMAXPROCS(0), o.VerifyDuration)})
		if single, err = verifyrate.Ed25519(ctx, o.VerifyDuration); err != nil {
			return 0, 0, err
		}
		if batch, err = verifyrate.Batch(ctx, o.VerifyDuration); err != nil {
			return 0, 0, err
		}
		progress(Event{Message: fmt.Sprintf("crypto/ed25519 verify: %.0f/s; chain batch verify: %.0f/s", single, batch)})
		return single, batch, nil
	}
	before, batchBefore, err := measure("before")
	if err != nil {
		return nil, err
	}
	res.Conditions.VerifyBeforePerS = before
	res.VerifyPerS, res.BatchVerifyPerS = before, batchBefore
	defer func() {
		after, batchAfter, err := measure("after")
		if err != nil {
			return
		}
		res.Conditions.VerifyAfterPerS = after
		res.VerifyPerS, res.BatchVerifyPerS = (before+after)/2, (batchBefore+batchAfter)/2
		finish(res, nil, nil)
	}()

	where := "in this process"
	if o.Processes {
		where = "as processes"
	}
	progress(Event{Message: fmt.Sprintf("starting %d validators %s with %d meters", o.Validators, where, o.Devices)})
	nw, err := startNetwork(ctx, o)
	if err != nil {
		return nil, err
	}
	feed, seen, err := nw.cl.feed(ctx)
	if err != nil {
		nw.close()
		return nil, err
	}
	tr := newTracker(feed, seen, nw.devIndex)
	defer func() {
		tr.close()
		nw.close()
	}()

	record := func(st *Step) {
		res.Steps = append(res.Steps, *st)
		progress(Event{Step: st})
	}
	runStep := func(label string, rate int) (*Step, error) {
		return nw.runStepWith(ctx, tr, o, label, rate, 0, record)
	}
	if o.Warmup > 0 {
		wo := o
		wo.Duration = o.Warmup
		if _, err := nw.runStepWith(ctx, tr, wo, "warmup", o.firstRate(), 0, record); err != nil {
			return finish(res, nil, nil), err
		}
	}
	var peak *Step
	note := func(st *Step) {
		if peak == nil || st.FinalizedPerS > peak.FinalizedPerS {
			peak = st
		}
	}
	if len(o.Rates) > 0 {
		for _, r := range o.Rates {
			st, err := runStep("rate", r)
			if err != nil {
				return finish(res, peak, nil), err
			}
			note(st)
		}
	} else {
		rate := o.StartRate
		var kept []bool
		for i := 0; i < o.MaxSteps && rate <= MaxRate && stepReadings(rate, o.Duration) <= MaxStepReadings; i++ {
			st, err := runStep("rise", rate)
			if err != nil {
				return finish(res, peak, nil), err
			}
			note(st)
			kept = append(kept, st.kept(o.MaxP99))
			if !riseAgain(kept) {
				break
			}
			rate *= 2
		}
	}
	// The half-peak step runs before the of-peak steps: its latencies are
	// the headline figures, and after a step at several times the peak
	// it would start on that step's backlog.
	lat := peak
	if !o.SkipHalfPeak && peak != nil && peak.FinalizedPerS >= 2 {
		half, err := runStep("half-peak", int(peak.FinalizedPerS/2))
		if err != nil {
			return finish(res, peak, nil), err
		}
		lat = half
	}
	if peak != nil {
		for _, f := range o.OfPeak {
			rate := min(max(int(math.Round(f*peak.FinalizedPerS)), 1), MaxRate)
			if n := stepReadings(rate, o.Duration); n > MaxStepReadings {
				return finish(res, peak, lat), fmt.Errorf("%w: OfPeak %g of the peak %.0f/s is %d readings in a %s step; at most %d: give a shorter Duration", ErrOptions, f, peak.FinalizedPerS, n, o.Duration, MaxStepReadings)
			}
			if _, err := nw.runStepWith(ctx, tr, o, "of-peak", rate, f, record); err != nil {
				return finish(res, peak, lat), err
			}
		}
	}
	return finish(res, peak, lat), nil
}

// riseAgain is the rising steps' rule, given whether each step so far
// kept up (Step.kept): the rate doubles while they do, and after the
// first that does not, once more. A network past its knee finalizes
// what it drains at, in larger blocks, often more than at the knee's
// step: with 4 validators as processes, runs whose 8,000/s step kept up
// went on to 16,000/s and a peak of 8,400-8,900/s, and runs whose
// 8,000/s step fell just short stopped there with a peak of 6,000-7,100/s,
// so the of-peak steps measured different things from run to run.
func riseAgain(kept []bool) bool {
	for i, k := range kept {
		if !k {
			return i == len(kept)-1
		}
	}
	return true
}

// firstRate is the rate of the first measured step (and of the warmup):
// Rates[0], or StartRate when Rates is not given.
func (o Options) firstRate() int {
	if len(o.Rates) > 0 {
		return o.Rates[0]
	}
	return o.StartRate
}

// stepReadings is the number of readings a step at rate for d submits.
func stepReadings(rate int, d time.Duration) int {
	return int(float64(rate) * d.Seconds())
}

// finish fills the headline figures from the peak step and the step whose
// latencies are reported (each may be nil to keep what res has), and the
// ratio.
func finish(res *Result, peak, lat *Step) *Result {
	if peak != nil {
		res.FinalizedPerS = peak.FinalizedPerS
	}
	if lat != nil {
		res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyAtPerS = lat.LatencyP50Ms, lat.LatencyP99Ms, lat.OfferedPerS
		res.AcceptedP50Ms, res.AcceptedP99Ms = lat.AcceptedP50Ms, lat.AcceptedP99Ms
	}
	if res.VerifyPerS > 0 {
		res.Ratio = res.FinalizedPerS / (res.VerifyPerS / float64(res.Validators))
	}
	return res
}

func conditions(o Options) Conditions {
	c := Conditions{
		Cores: runtime.GOMAXPROCS(0), CPUs: runtime.NumCPU(),
		StepSeconds: o.Duration.Seconds(), Devices: o.Devices, TickMs: float64(o.Tick) / float64(time.Millisecond), Gateways: o.Gateways,
		Ingestion:    "node.SubmitReadings in-process, pre-signed readings, each meter to its industry's validator, batches per tick, overload refusals sent again after the answer's retry_after_ms (its Retry-After when it has none)",
		Network:      fmt.Sprintf("%d validators in one process, badger stores, libp2p over loopback TCP", o.Validators),
		FinalityNode: "validator-1's block events",
		Params:       "devnet (idle interval 3s, propose timeout 1s + 0.5s/round), reading window 1h",
		Go:           runtime.Version(),
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
		Processes:    o.Processes,
	}
	if o.Processes {
		c.Ingestion = "POST /v1/readings (JSON arrays), pre-signed readings, each meter to its industry's validator through one of gateways_per_validator gateways, one batch per gateway per tick, one request at a time per gateway, overload refusals sent again after the answer's retry_after_ms (its Retry-After when it has none)"
		c.Network = fmt.Sprintf("%d validators as OS processes (waterchain run --home), badger stores, libp2p over loopback TCP", o.Validators)
		c.FinalityNode = "validator-1's block events on GET /v1/events, blocks from GET /v1/blocks/data/{height} as CBOR"
		c.Params = "devnet (heartbeat 1s, propose timeout 1s + 0.5s/round), reading window 1h; node config as waterchain testnet writes it"
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) >= 3 {
			c.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return c
}
