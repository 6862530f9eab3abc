package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node/api"
)

func init() { rootCmd.AddCommand(newStatusCmd()) }

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's heights, peers, validators and sync state",
		Long: `Shows a node's heights, peers, validators and sync state. While the node
catches up by block sync, its progress too: the heads it syncs to, blocks
left, rate and time left, as a progress bar when stdout is a terminal (with
--watch, followed until the node has caught up) and as a line of text
otherwise.`,
		Example: `  waterchain status
  waterchain status --watch
  waterchain status --node http://127.0.0.1:7071 --json`,
		Args: cobra.NoArgs,
	}
	node := addNodeFlag(cmd)
	asJSON := cmd.Flags().Bool("json", false, "print the raw JSON answer")
	watch := cmd.Flags().Bool("watch", false, "on a terminal, follow block sync's progress bar until the node has caught up")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newAPIClient(*node)
		if err != nil {
			return err
		}
		var st api.Status
		if err := c.get(cmd.Context(), "/v1/status", &st); err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if *asJSON {
			return printJSON(out, st)
		}
		fmt.Fprintf(out, "chain      %s (genesis %s)\n", st.ChainID, st.GenesisHash.Short())
		name := st.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(out, "node       %s %s (%s)\n", st.Role, name, st.NodeID)
		for _, lane := range []string{"data", "tx"} {
			l := st.Lanes[lane]
			if l.Height == 0 {
				fmt.Fprintf(out, "%-10s height 0 (no block final yet)\n", lane)
				continue
			}
			fmt.Fprintf(out, "%-10s height %d  hash %s  time %s  round %d\n", lane, l.Height, l.Hash.Short(), l.Time, l.Round)
		}
		fmt.Fprintf(out, "peers      %d\n", st.Peers)
		keys := make([]string, len(st.Validators))
		for i, v := range st.Validators {
			keys[i] = v.Short()
		}
		fmt.Fprintf(out, "validators %d: %s\n", len(st.Validators), strings.Join(keys, " "))
		fmt.Fprintf(out, "mempool    %d readings, %d txs\n", st.Mempool.Readings, st.Mempool.Txs)
		fmt.Fprintf(out, "syncing    %v\n", st.Syncing)
		if st.Sync == nil {
			return nil
		}
		if !isTerminal(out) {
			fmt.Fprintf(out, "sync       %s\n", syncLine(st))
			return nil
		}
		return syncBar(cmd.Context(), out, st, *watch, func(ctx context.Context) (api.Status, error) {
			var st api.Status
			err := c.get(ctx, "/v1/status", &st)
			return st, err
		})
	}
	return cmd
}

// syncLine is block sync's progress in one line of text.
func syncLine(st api.Status) string {
	s := st.Sync
	line := fmt.Sprintf("data %d/%d  tx %d/%d  %d blocks left  %.0f blocks/s",
		st.Lanes["data"].Height, s.TargetData, st.Lanes["tx"].Height, s.TargetTx, s.Remaining, s.BlocksPerSecond)
	if s.ETASeconds > 0 {
		line += fmt.Sprintf("  ETA %s", (time.Duration(s.ETASeconds) * time.Second).String())
	}
	return line
}

// syncBar draws block sync's progress as a bar over both lanes' blocks
// (synced of target heights), once, or with watch every second until the
// node has caught up.
func syncBar(ctx context.Context, out io.Writer, st api.Status, watch bool, poll func(context.Context) (api.Status, error)) error {
	total := int64(st.Sync.TargetData + st.Sync.TargetTx)
	// The rate and time left are the node's, not the bar's: it sees one
	// sample a second at most.
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription("syncing"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetWidth(40))
	defer fmt.Fprintln(out)
	for {
		if s := st.Sync; s != nil {
			if t := int64(s.TargetData + s.TargetTx); t != total {
				total = t
				bar.ChangeMax64(t)
			}
			desc := fmt.Sprintf("syncing, %.0f blocks/s", s.BlocksPerSecond)
			if s.ETASeconds > 0 {
				desc += fmt.Sprintf(", ETA %s", time.Duration(s.ETASeconds)*time.Second)
			}
			bar.Describe(desc)
		}
		_ = bar.Set64(int64(st.Lanes["data"].Height + st.Lanes["tx"].Height))
		if !watch || st.Sync == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		var err error
		if st, err = poll(ctx); err != nil {
			return err
		}
	}
}
