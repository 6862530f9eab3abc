package main

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
)

// queryCmd groups the read-only commands; each prints the node's JSON.
var queryCmd = &cobra.Command{
	Use:   "query",
	Short: "Read blocks, readings, accounts, offers, alerts and settlements from a node",
}

func init() {
	rootCmd.AddCommand(queryCmd)
	queryCmd.PersistentFlags().String("node", defaultNodeURLFromEnv(), "API URL of the node (env WATERCHAIN_NODE)")

	queryCmd.AddCommand(&cobra.Command{
		Use:   "block LANE HEIGHT|latest",
		Short: "A block of the data or tx lane, with its commit certificate",
		Example: `  waterchain query block data latest
  waterchain query block tx 12`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := chain.ParseLane(args[0]); err != nil {
				return err
			}
			if args[1] != "latest" {
				if _, err := strconv.ParseUint(args[1], 10, 64); err != nil {
					return fmt.Errorf("height %q: want a number or \"latest\"", args[1])
				}
			}
			return getJSON(cmd, "/v1/blocks/"+args[0]+"/"+args[1])
		},
	})

	readingCmd := &cobra.Command{
		Use:   "reading DEVICE-KEY",
		Short: "Finalized readings of a device, optionally in a time range",
		Example: `  waterchain query reading 3b6a27bc...29 --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z
  waterchain query reading 3b6a27bc...29 --seq 17`,
		Args: cobra.ExactArgs(1),
	}
	from := readingCmd.Flags().String("from", "", "start time, RFC 3339 (inclusive)")
	to := readingCmd.Flags().String("to", "", "end time, RFC 3339 (exclusive)")
	limit := readingCmd.Flags().Int("limit", 100, "most readings to list")
	seq := readingCmd.Flags().Uint64("seq", 0, "one reading by sequence number")
	readingCmd.RunE = func(cmd *cobra.Command, args []string) error {
		dev, err := chain.ParsePubKey(args[0])
		if err != nil {
			return fmt.Errorf("device: %w", err)
		}
		q := url.Values{"device": {dev.String()}, "limit": {strconv.Itoa(*limit)}}
		if *from != "" {
			q.Set("from", *from)
		}
		if *to != "" {
			q.Set("to", *to)
		}
		if *seq != 0 {
			q.Set("seq", strconv.FormatUint(*seq, 10))
		}
		return getJSON(cmd, "/v1/readings?"+q.Encode())
	}
	queryCmd.AddCommand(readingCmd)

	queryCmd.AddCommand(&cobra.Command{
		Use:     "account ADDRESS",
		Short:   "An account's drops balance and nonce",
		Example: `  waterchain query account wc5f1c9a0e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a2`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := chain.ParseAddress(args[0])
			if err != nil {
				return err
			}
			return getJSON(cmd, "/v1/accounts/"+addr.String())
		},
	})

	queryCmd.AddCommand(&cobra.Command{
		Use:     "device DEVICE-KEY",
		Short:   "A meter's registration and the last reading recorded for it",
		Example: `  waterchain query device 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dev, err := chain.ParsePubKey(args[0])
			if err != nil {
				return fmt.Errorf("device: %w", err)
			}
			return getJSON(cmd, "/v1/devices/"+dev.String())
		},
	})

	queryCmd.AddCommand(&cobra.Command{
		Use:     "tx HASH",
		Short:   "A transaction's status: pending or final, and where",
		Example: `  waterchain query tx 9f2c...e1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := chain.ParseHash(args[0])
			if err != nil {
				return err
			}
			return getJSON(cmd, "/v1/txs/"+h.String())
		},
	})
}

func defaultNodeURLFromEnv() string {
	if env := lookupEnv("WATERCHAIN_NODE"); env != "" {
		return env
	}
	return defaultNodeURL
}

// getJSON prints the JSON a query command's node answers at path.
func getJSON(cmd *cobra.Command, path string) error {
	c, err := newAPIClient(queryCmd.PersistentFlags().Lookup("node").Value.String())
	if err != nil {
		return err
	}
	var out any
	if err := c.get(cmd.Context(), path, &out); err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), out)
}

func init() {
	get := getJSON
	queryCmd.AddCommand(&cobra.Command{
		Use:     "offers",
		Short:   "Open allowance offers on the market, cheapest first",
		Example: `  waterchain query offers`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return get(cmd, "/v1/market/offers") },
	})
	queryCmd.AddCommand(&cobra.Command{
		Use:     "industries",
		Short:   "Industries with their permits, allowance this period and balances",
		Example: `  waterchain query industries`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return get(cmd, "/v1/industries") },
	})
	alertsCmd := &cobra.Command{
		Use:     "alerts [--device KEY] [--industry ADDRESS] [--kind KIND] [--since RFC3339] [--limit N]",
		Short:   "Alerts: leaks, faulty or tampered meters, limit exceedances (newest first)",
		Example: `  waterchain query alerts --kind limit_exceeded --limit 20`,
		Args:    cobra.NoArgs,
	}
	device := alertsCmd.Flags().String("device", "", "only this meter's (public key)")
	industry := alertsCmd.Flags().String("industry", "", "only this industry's (address)")
	kind := alertsCmd.Flags().String("kind", "", "only this kind: leak, missed_readings, flat_line, gross_range, negative_flow, spike, counter_backwards, clock_skew, limit_exceeded, bad_signature, floating_solids, image_class_changed")
	since := alertsCmd.Flags().String("since", "", "only alerts at or after this time (RFC 3339)")
	limit := alertsCmd.Flags().Int("limit", 100, "most alerts to list")
	alertsCmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q := url.Values{"limit": {strconv.Itoa(*limit)}}
		for k, v := range map[string]string{"device": *device, "industry": *industry, "kind": *kind, "since": *since} {
			if v != "" {
				q.Set(k, v)
			}
		}
		return get(cmd, "/v1/alerts?"+q.Encode())
	}
	queryCmd.AddCommand(alertsCmd)
	settle := &cobra.Command{
		Use:   "settlement [--period LABEL] [--leaderboard]",
		Short: "Settlement records of a period (default: the last settled): volume, compliance, drops minted and why",
		Example: `  waterchain query settlement
  waterchain query settlement --period 2026-11 --leaderboard`,
		Args: cobra.NoArgs,
	}
	period := settle.Flags().String("period", "", "period label (YYYY-MM, or YYYY-MM-DDThh:mm on a devnet)")
	board := settle.Flags().Bool("leaderboard", false, "show the ranking of industries instead")
	settle.RunE = func(cmd *cobra.Command, _ []string) error {
		path := "/v1/settlements"
		if *board {
			path = "/v1/leaderboard"
		}
		if *period != "" {
			path += "?period=" + url.QueryEscape(*period)
		}
		return get(cmd, path)
	}
	queryCmd.AddCommand(settle)
}
