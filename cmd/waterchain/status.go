package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node/api"
)

func init() {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's heights, peers, validators and sync state",
		Example: `  waterchain status
  waterchain status --node http://127.0.0.1:7071 --json`,
		Args: cobra.NoArgs,
	}
	node := addNodeFlag(cmd)
	asJSON := cmd.Flags().Bool("json", false, "print the raw JSON answer")
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
		return nil
	}
	rootCmd.AddCommand(cmd)
}
