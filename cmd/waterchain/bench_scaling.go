package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/bench"
)

func newBenchScalingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scaling [--sizes 4,7,10,16] [--rate 500]",
		Short: "Measure latency at one rate on networks of more and more validators",
		Long: `Run "waterchain bench --processes" at one offered rate on a fresh network of
each size in turn (validators as OS processes, readings POSTed over HTTP),
with the same meters at every size (--devices, dealt among the industries)
and a warmup step at the rate before the measured one, so that every meter
has read once (its first reading adds its record to the state) and the
sizes differ only in their validators.

Then print a row per size: finalized readings/s, latency p50 and p99 from
the first request and from acceptance, blocks, the CPU seconds all nodes
used, and each latency from acceptance over the first size's scaled by
n ÷ n₀ (at most 1: it grew no faster than the number of validators). The
last line of the output is one JSON object with the rows and the verdicts
p50_linear and p99_linear (every size finalized all it accepted, within
linear growth).`,
		Example: `  waterchain bench scaling
  waterchain bench scaling --sizes 4,10 --rate 1000 --duration 20s`,
		Args: cobra.NoArgs,
	}
	var o bench.ScalingOptions
	sizes := cmd.Flags().String("sizes", joinInts(bench.DefaultScalingSizes), "validators of each network, ascending, comma-separated")
	cmd.Flags().IntVar(&o.Rate, "rate", bench.DefaultScalingRate, "offered readings/s")
	cmd.Flags().IntVar(&o.Devices, "devices", bench.DefaultScalingDevices, "meters registered in genesis, the same at every size")
	cmd.Flags().DurationVar(&o.Warmup, "warmup", bench.DefaultScalingWarmup, "unmeasured step at the rate before the measured one (at least --devices ÷ --rate for every meter to read once)")
	cmd.Flags().DurationVar(&o.Duration, "duration", bench.DefaultScalingDuration, "the measured step's length")
	cmd.Flags().DurationVar(&o.VerifyDuration, "verify-duration", bench.DefaultVerifyDuration, "how long each network's ed25519 verification rate is measured")
	cmd.Flags().StringVar(&o.Binary, "node-binary", "", "the waterchain executable the nodes run (default this one)")
	logLevel := cmd.Flags().String("log-level", "error", "nodes' log level (each node.log): debug, info, warn, error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		if o.Sizes, err = parseSizes(*sizes); err != nil {
			return err
		}
		if o.Logger, err = benchLogger(cmd, *logLevel); err != nil {
			return err
		}
		o.NodeLogLevel = *logLevel
		if err := o.Validate(); err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		o.Progress = newStepTable(out).event
		return runBench(cmd, func(ctx context.Context) (*bench.ScalingResult, error) { return bench.RunScaling(ctx, o) },
			func(r *bench.ScalingResult) { printScaling(out, r) })
	}
	return cmd
}

// joinInts writes sizes as --sizes takes them.
func joinInts(sizes []int) string {
	out := make([]string, len(sizes))
	for i, n := range sizes {
		out[i] = strconv.Itoa(n)
	}
	return strings.Join(out, ",")
}

// parseSizes parses "4,7,10,16".
func parseSizes(s string) ([]int, error) {
	return parseInts("--sizes", s, "a number of validators", "4,7,10,16")
}

func printScaling(w io.Writer, r *bench.ScalingResult) {
	fmt.Fprintf(w, "\n%d readings/s offered from %d meters:\n", r.RatePerS, r.Devices)
	tw := tabwriter.NewWriter(w, 8, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "VALIDATORS\tFINAL/s\tFINAL\tP50 ms\tP99 ms\tACC P50\tACC P99\tBLOCKS\tNODES CPU s\tP50 ÷ LINEAR\tP99 ÷ LINEAR\t")
	for _, s := range r.Sizes {
		fmt.Fprintf(tw, "%d\t%.0f\t%d/%d\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%.1f\t%.2f\t%.2f\t\n", s.Validators, s.FinalizedPerS, s.Finalized, s.Submitted,
			s.LatencyP50Ms, s.LatencyP99Ms, s.AcceptedP50Ms, s.AcceptedP99Ms, s.Blocks, s.NodesCPUSeconds, s.P50VsLinear, s.P99VsLinear)
	}
	tw.Flush()
	verdict := map[bool]string{true: "no faster than n", false: "faster than n"}
	fmt.Fprintf(w, "latency from acceptance grew: median %s, p99 %s\n", verdict[r.P50Linear], verdict[r.P99Linear])
}
