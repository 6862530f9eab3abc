package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/bench"
)

func newBenchHistoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history [--blocks 20000] [--full-blocks N] [--readings 100]",
		Short: "Build a long valid history fast, then measure disk, restart, catch-up and audit on it",
		Long: `Write a network (validators and one auditor, genesis.DefaultParams, its
genesis in the past), then build a history straight into validator-1's
store without consensus rounds: --blocks data blocks --interval apart, a tx
block after every --tx-every of them, the last --full-blocks data blocks
carrying --readings readings each from meters registered in genesis
(signed by their keys), every block executed by package state and
certified by precommits of the genesis validators' own node keys, and
committed with the store's CommitBlocks as block sync commits (blocks
built on one goroutine, their precommits signed on every core). The store
is copied into every validator home.

Then, in one run: bytes on disk per empty block and per reading (the badger
directory after close and compaction, measured at genesis, after the empty
blocks and at the end; beside the encoded size of a reading); this
machine's batch-verify rate (bench/verifyrate); the first start of the
validators as "waterchain run" processes and the restart of one of them
(until /v1/status answers, and until a block final after the restart
carries its precommit, with readings flowing); the catch-up of the
fresh auditor syncing from the validators over libp2p, from its
/v1/status heights over time (at most --catchup-timeout), and its peak
resident memory; the batch-verify rate again with the nodes stopped (the
ratio is to the higher of the two counts); and last, the time of
"waterchain audit verify" over validator-1's home (at most
--audit-timeout).

The last line of the output is one JSON object with the figures and the
targets of issue 15 beside them.`,
		Example: `  waterchain bench history
  waterchain bench history --blocks 100000
  waterchain bench history --blocks 1000000 --catchup-timeout 30m --start-timeout 30m --dir /var/tmp/history`,
		Args: cobra.NoArgs,
	}
	var o bench.HistoryOptions
	cmd.Flags().IntVar(&o.Blocks, "blocks", bench.DefaultHistoryBlocks, "data blocks of the history")
	cmd.Flags().IntVar(&o.FullBlocks, "full-blocks", 0, "how many of the data blocks (the last ones) carry readings (default a tenth; -1 none)")
	cmd.Flags().IntVar(&o.Readings, "readings", bench.DefaultHistoryReadings, "readings per full data block")
	cmd.Flags().IntVar(&o.Meters, "meters", 0, "meters registered in genesis (default --readings: each reads once per full block)")
	cmd.Flags().IntVar(&o.TxEvery, "tx-every", 1, "a tx block after every N data blocks (-1: none)")
	cmd.Flags().DurationVar(&o.Interval, "interval", bench.DefaultHistoryInterval, "time between two data blocks of the history")
	cmd.Flags().IntVar(&o.Validators, "validators", bench.DefaultHistoryValidators, "validators (one auditor is added)")
	cmd.Flags().DurationVar(&o.CatchupTimeout, "catchup-timeout", bench.DefaultHistoryCatchupTimeout, "longest catch-up measured; the rates are then of the part synced")
	cmd.Flags().DurationVar(&o.StartTimeout, "start-timeout", bench.DefaultHistoryStartTimeout, "longest wait for a node to answer and vote")
	cmd.Flags().DurationVar(&o.AuditTimeout, "audit-timeout", 0, "longest `audit verify` (the last phase; 0: no limit)")
	cmd.Flags().DurationVar(&o.VerifyDuration, "verify-duration", bench.DefaultVerifyDuration, "how long each verification rate is measured")
	cmd.Flags().StringVar(&o.CatchupCPUProfile, "catchup-cpuprofile", "", "the catching-up auditor writes a CPU profile of its whole run to this file (go tool pprof)")
	cmd.Flags().StringVar(&o.CatchupTrace, "catchup-trace", "", "the catching-up auditor writes a runtime execution trace of its whole run to this file (go tool trace)")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "write the network here (a new or empty directory, kept) instead of a temporary one")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		bin, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this executable, which the nodes run as: %w", err)
		}
		o.Binary = bin
		o.Logger = slog.New(slog.DiscardHandler)
		out := cmd.OutOrStdout()
		begin := time.Now()
		o.Progress = func(msg string) { fmt.Fprintf(out, "[%6.1fs] %s\n", time.Since(begin).Seconds(), msg) }
		if err := o.Validate(); err != nil {
			return err
		}
		return runBench(cmd, func(ctx context.Context) (*bench.HistoryResult, error) { return bench.RunHistory(ctx, o) },
			func(r *bench.HistoryResult) { printHistorySummary(out, r) })
	}
	return cmd
}

// printHistorySummary prints the figures beside the targets of issue 15.
func printHistorySummary(w interface{ Write([]byte) (int, error) }, r *bench.HistoryResult) {
	t := r.Targets
	fmt.Fprintf(w, "\nhistory: %d blocks (%d data, %d tx), %d readings\n", r.Blocks, r.DataBlocks, r.TxBlocks, r.Readings)
	fmt.Fprintf(w, "disk:     %.0f B per empty block (target ≤ %.0f); %.0f B per reading, %.2f× its %.0f encoded bytes (target ≤ %.1f×); compacted %d B, %d B as the node left it (level 0 uncompressed)\n",
		r.DiskBytesPerEmptyBlock, t.EmptyBlockDiskMax, r.DiskBytesPerReading, r.DiskReadingRatio, r.ReadingEncodedBytes, t.ReadingDiskRatio, r.DiskBytes, r.DiskBytesLive)
	fmt.Fprintf(w, "restart:  API after %.2fs, voting after %.2fs (target ≤ %.0fs at 1,000,000 blocks); first start %.2fs / %.2fs\n",
		r.RestartAPIS, r.RestartVoteS, t.RestartS, r.FirstStartAPIS, r.FirstStartVoteS)
	fmt.Fprintf(w, "catch-up: empty blocks %.0f/s (target ≥ %.0f); full blocks %.0f readings/s = %.2f of batch verify %.0f/s (target ≥ %.2f)\n",
		r.CatchupEmptyBlocksPerS, t.EmptyBlocksPerS, r.CatchupFullReadingsPerS, r.CatchupReadingsVerifyRatio, r.BatchVerifyPerS, t.ReadingsVerifyRatio)
	if !r.CatchupComplete {
		fmt.Fprintf(w, "          (timed out after %.0fs with %d of %d blocks: rates of the part synced)\n", r.CatchupS, r.CatchupBlocks, r.Blocks)
	}
	fmt.Fprintf(w, "audit:    verify %.1fs, %.0f blocks/s\n", r.AuditVerifyS, r.AuditVerifyBlocksPerS)
}
