package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/bench"
)

func init() { rootCmd.AddCommand(newBenchCmd()) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench [--processes] [--validators 4] [--duration 10s] [--rates 1000,2000,...]",
		Short: "Measure finalized readings/s and submit-to-final latency on this machine",
		Long: `Start validators in this process (real stores in a temporary directory,
libp2p over loopback), drive pre-signed readings through each node's
ingestion path at rising rates, and print per step the offered and
finalized readings/s and the submit-to-final latency (p50, p99, max).

With --processes, each validator runs as an OS process of this binary
("waterchain run --home DIR", its config as "waterchain testnet --devices"
writes it), and the readings are POSTed in batches to /v1/readings of each
meter's own validator, as meters and gateways do; latency runs from the
request to validator-1's block event on /v1/events. Each step then also
reports the batches refused whole (429/503) and the CPU seconds each node
process used.

In both modes, readings refused as overload (429/503, a full mempool) are
sent again in order after the answer's Retry-After, as a gateway does,
for at most --drain after the step (RETRIED counts them; --no-retry counts
them as lost). Latency is given twice: P50/P99/MAX from a reading's first
request (what a meter waits, Retry-After pauses included), and ACC
P50/P99 from the request that got it accepted (what the node's admission,
mempool.admit_wait, bounds). The processes are stopped when the bench
ends, and killed by the kernel if it dies. Their output is in DIR/net/validator-N/node.log
(with --dir).

Before the network starts, the same run measures this machine's
crypto/ed25519 verification rate on all cores. Every reading is verified once
on each node and the nodes share the cores, so verify_per_s ÷ validators
bounds what the network can finalize; ratio is the fraction of it reached.

--warmup D runs a step of D at the first rate before the measured ones,
so that they start on a warm network (admission window and finalized-rate
estimate grown). --of-peak 0.8,2,4 adds, after the other steps (the
half-peak step included), steps at those multiples of the peak they
found, on the network they warmed.

Without --rates the offered rate doubles from --start-rate while the network
keeps up (90% finalized, p99 under --max-p99), and once more after the first
step it does not keep up with (past its knee it may finalize more, in larger
blocks); the peak is the best step's finalized rate, and a last step at half
the peak gives the reported latencies. The last line of the output is one JSON object
with the figures: finalized_per_s, latency_p50_ms, latency_p99_ms,
accepted_latency_p50_ms, accepted_latency_p99_ms, verify_per_s, validators, ratio, and the conditions.`,
		Example: `  waterchain bench
  waterchain bench --processes
  waterchain bench --processes --validators 7 --rates 500 --duration 15s --no-half-peak
  waterchain bench --rates 2000,4000,8000 --duration 20s
  waterchain bench --processes --rates 6000 --warmup 10s --of-peak 0.8,2,4 --no-half-peak
  waterchain bench --validators 1 --duration 5s --cpuprofile bench.pprof`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newBenchHistoryCmd(), newBenchScalingCmd())
	var o bench.Options
	cmd.Flags().IntVar(&o.Validators, "validators", bench.DefaultValidators, "validator nodes, in this process unless --processes")
	cmd.Flags().BoolVar(&o.Processes, "processes", false, "run each validator as an OS process and submit over HTTP")
	cmd.Flags().BoolVar(&o.NoRetry, "no-retry", false, "count readings refused as overload (429/503, full mempool) as lost instead of sending them again after Retry-After")
	cmd.Flags().DurationVar(&o.Duration, "duration", bench.DefaultDuration, "how long each step submits readings")
	rates := cmd.Flags().String("rates", "", "offered readings/s of each step, comma-separated (default: rising from --start-rate)")
	cmd.Flags().DurationVar(&o.Warmup, "warmup", 0, "before the measured steps, a step this long at the first rate (not counted): the measured steps then start on a warm network")
	ofPeak := cmd.Flags().String("of-peak", "", "after the other steps, steps at these multiples of the peak they found, comma-separated (example: 0.8,2,4)")
	cmd.Flags().IntVar(&o.StartRate, "start-rate", bench.DefaultStartRate, "first offered rate of the rising steps")
	cmd.Flags().IntVar(&o.MaxSteps, "max-steps", bench.DefaultMaxSteps, "most rising steps")
	cmd.Flags().DurationVar(&o.MaxP99, "max-p99", bench.DefaultMaxP99, "rising stops after a step with a p99 latency above this")
	cmd.Flags().IntVar(&o.Devices, "devices", 0, "simulated meters registered in genesis (default 1000 per validator)")
	cmd.Flags().DurationVar(&o.Tick, "tick", bench.DefaultTick, "submission interval: each tick sends the readings due, one batch per gateway")
	cmd.Flags().IntVar(&o.Gateways, "gateways", 1, "gateways per validator, each sending its share of the industry's meters one request at a time and waiting out its own Retry-After")
	cmd.Flags().DurationVar(&o.Drain, "drain", bench.DefaultDrain, "how long a step waits after its last submission for its readings to be final")
	cmd.Flags().DurationVar(&o.VerifyDuration, "verify-duration", bench.DefaultVerifyDuration, "how long the ed25519 verification rate is measured")
	cmd.Flags().BoolVar(&o.SkipHalfPeak, "no-half-peak", false, "skip the last step at half the peak rate (latencies are then the peak step's)")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "write the network here instead of a temporary directory")
	cpuprofile := cmd.Flags().String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	cmd.Flags().StringVar(&o.Binary, "node-binary", "", "with --processes: the waterchain executable the nodes run (default this one), to compare two builds' nodes with one bench")
	cmd.Flags().StringVar(&o.NodeCPUProfileDir, "node-cpuprofile", "", "with --processes: each node writes a CPU profile of its whole run to DIR/NAME.pprof (go tool pprof)")
	cmd.Flags().BoolVar(&o.NodeStepProfiles, "node-cpuprofile-steps", false, "with --node-cpuprofile: profile each step's submission window apart (DIR/NAME-LABEL-RATE.pprof, taken from each node's --pprof port) instead of the whole run")
	cmd.Flags().StringVar(&o.NodeTraceDir, "node-trace", "", "with --processes: each node writes a runtime execution trace of its whole run to DIR/NAME.trace (go tool trace)")
	cmd.Flags().StringVar(&o.TimelineFile, "timeline", "", "append each step's figures second by second to this file (offered, sent, refused, accepted, final; with --processes validator-1's admission window, rate and mempool)")
	logLevel := cmd.Flags().String("log-level", "error", "nodes' log level (to stderr; with --processes to each node.log): debug, info, warn, error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		if o.Rates, err = parseRates(*rates); err != nil {
			return err
		}
		if o.OfPeak, err = parseOfPeak(*ofPeak); err != nil {
			return err
		}
		if o.Logger, err = benchLogger(cmd, *logLevel); err != nil {
			return err
		}
		o.NodeLogLevel = *logLevel
		if err := o.Validate(); err != nil {
			return err
		}
		if *cpuprofile != "" {
			stopProfile, err := startCPUProfile(*cpuprofile)
			if err != nil {
				return err
			}
			defer stopProfile()
		}
		table := newStepTable(cmd.OutOrStdout())
		o.Progress = table.event
		return runBench(cmd, func(ctx context.Context) (*bench.Result, error) { return bench.Run(ctx, o) }, table.summary)
	}
	return cmd
}

// benchLogger is the bench's logger on stderr at the --log-level given.
func benchLogger(cmd *cobra.Command, logLevel string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})), nil
}

// runBench runs a benchmark under a context that SIGINT and SIGTERM end,
// prints its summary and then its result as the output's last line, one
// JSON object, also when the run ends early with what it measured.
func runBench[R any](cmd *cobra.Command, run func(context.Context) (*R, error), summary func(*R)) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, runErr := run(ctx)
	if res == nil {
		return runErr
	}
	summary(res)
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), string(line))
	return runErr
}

// parseRates parses "1000,2000,4000".
func parseRates(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return parseInts("--rates", s, "a positive number of readings per second", "1000,2000,4000")
}

// parseInts parses the comma-separated positive integers of flag's value
// s, naming what each is and an example value in its error.
func parseInts(flag, s, what, example string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: %q is not %s (example: %s %s)", flag, s, f, what, flag, example)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseOfPeak parses "0.8,2,4".
func parseOfPeak(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(x > 0) {
			return nil, fmt.Errorf("--of-peak %q: %q is not a positive multiple of the peak (example: --of-peak 0.8,2,4)", s, f)
		}
		out = append(out, x)
	}
	return out, nil
}

// stepTable prints the run's progress: messages as they come, then one row
// per step.
type stepTable struct {
	w      io.Writer
	header bool
	start  time.Time
}

func newStepTable(w io.Writer) *stepTable { return &stepTable{w: w, start: time.Now()} }

const stepColumns = "STEP\tOFFERED/s\tSUBMITTED/s\tACCEPTED/s\tFINALIZED/s\tFINAL\tREJECTED\t429/503\tRETRIED\tSKIPPED\tP50 ms\tP99 ms\tMAX ms\tACC P50\tACC P99\tBLOCKS\tLATE\tMAX BLOCK\tSIGN s\tNODES CPU s\tBENCH CPU s"

func (t *stepTable) event(ev bench.Event) {
	if ev.Step == nil {
		fmt.Fprintf(t.w, "[%5.1fs] %s\n", time.Since(t.start).Seconds(), ev.Message)
		return
	}
	// One tabwriter per row keeps rows appearing as steps finish; fixed
	// minimum widths keep the columns aligned across rows.
	tw := tabwriter.NewWriter(t.w, 11, 0, 1, ' ', tabwriter.AlignRight)
	if !t.header {
		fmt.Fprintln(tw, stepColumns+"\t")
		t.header = true
	}
	s := ev.Step
	nodesCPU := "-"
	if s.NodeCPUSeconds != nil {
		total := 0.0
		for _, c := range s.NodeCPUSeconds {
			total += c
		}
		nodesCPU = strconv.FormatFloat(total, 'f', 1, 64)
	}
	label := s.Label
	if s.OfPeak > 0 {
		label = strconv.FormatFloat(s.OfPeak, 'g', 3, 64) + "×peak"
	}
	fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%d/%d\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%d\t%d\t%.1f\t%s\t%.1f\t\n",
		label, s.OfferedPerS, s.SubmittedPerS, s.AcceptedPerS, s.FinalizedPerS, s.Finalized, s.Submitted, s.Rejected, s.RefusedAnswers, s.Retried, s.Skipped,
		s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs, s.AcceptedP50Ms, s.AcceptedP99Ms, s.Blocks, s.LateRounds, s.MaxBlock, s.SignSeconds, nodesCPU, s.BenchCPUSeconds)
	tw.Flush()
	if len(s.NodeCPUSeconds) > 0 {
		per := make([]string, len(s.NodeCPUSeconds))
		for i, c := range s.NodeCPUSeconds {
			per[i] = fmt.Sprintf("v%d %.1f", i+1, c)
		}
		fmt.Fprintf(t.w, "  node CPU s: %s\n", strings.Join(per, ", "))
	}
	if sp := s.AcceptedSplit; sp != nil {
		fmt.Fprintf(t.w, "  from acceptance, p50 parts: request %.0f, wait for a block %.0f, block to final %.0f ms; slowest 1%%, mean parts: %.0f, %.0f, %.0f ms\n",
			sp.RequestP50Ms, sp.QueueP50Ms, sp.BlockP50Ms, sp.TailRequestMs, sp.TailQueueMs, sp.TailBlockMs)
	}
	if s.FirstError != "" {
		fmt.Fprintf(t.w, "  first refusal: %s\n", s.FirstError)
	}
}

func (t *stepTable) summary(r *bench.Result) {
	bound := 0.0
	if r.Validators > 0 {
		bound = r.VerifyPerS / float64(r.Validators)
	}
	fmt.Fprintf(t.w, "\npeak %.0f finalized readings/s; at %d/s latency p50 %.0f ms, p99 %.0f ms from the first request (from acceptance: p50 %.0f ms, p99 %.0f ms)\n",
		r.FinalizedPerS, r.LatencyAtPerS, r.LatencyP50Ms, r.LatencyP99Ms, r.AcceptedP50Ms, r.AcceptedP99Ms)
	fmt.Fprintf(t.w, "bound: %.0f ed25519 verifies/s on %d cores ÷ %d validators = %.0f/s; ratio %.2f (chain batch verify: %.0f/s)\n",
		r.VerifyPerS, r.Conditions.Cores, r.Validators, bound, r.Ratio, r.BatchVerifyPerS)
}

// startTrace starts a runtime execution trace into path (run --trace);
// the returned function stops it and closes the file.
func startTrace(path string) (stop func(), err error) {
	return startToFile(path, "--trace", trace.Start, trace.Stop)
}

// startCPUProfile starts a CPU profile into path (the --cpuprofile flags of
// bench and run); the returned function stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	return startToFile(path, "--cpuprofile", pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// startToFile creates path and starts begin on it; the stop it returns
// runs end and closes the file. Errors name flag.
func startToFile(path, flag string, begin func(io.Writer) error, end func()) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if err := begin(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return func() {
		end()
		f.Close()
	}, nil
}
