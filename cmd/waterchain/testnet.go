package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node/home"
)

func init() { rootCmd.AddCommand(newTestnetCmd()) }

func newTestnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testnet --validators N [--auditors M] --out DIR",
		Short: "Write a whole network's genesis, keys and node homes for separate processes",
		Long: `Write a network into DIR for nodes started one by one with
"waterchain run --home DIR/NODE":

  DIR/genesis.json       validators, auditors, one industry per validator
                         (running it), a regulator, parameters
  DIR/validator-1, ...   one node home per node (node key, genesis, config)
  DIR/auditor-1, ...
  DIR/accounts/          account keys of the industries and the regulator
  DIR/testnet.json       each node's name, role, API URL and home

Node k (validators first, from 0) listens on 127.0.0.1: p2p on BASE+10k, the
API on BASE+10k+1, MQTT (off) on BASE+10k+2; each node's config bootstraps
from all the others. --devnet-params settles every 5 minutes instead of every
calendar month.

--hosts puts each node on a host of its own (containers, machines): node k
listens on all interfaces at BASE (p2p), BASE+1 (API) and BASE+2 (MQTT), and
the others reach it at /dns/HOST, /ip4/HOST or /ip6/HOST. --devices N
registers N meters per industry in genesis, with their keys in DIR/devices/.

DIR must be new or empty. Writing over a network made before in DIR needs
--overwrite, which deletes its keys and chain data.`,
		Example: `  waterchain testnet --validators 4 --auditors 1 --out ./testnet
  waterchain run --home ./testnet/validator-1   # and likewise for each node
  waterchain testnet --validators 7 --out /tmp/net --base-port 40000 --devnet-params --overwrite
  waterchain testnet --validators 4 --auditors 1 --out ./net --base-port 26656 \
    --hosts validator-1,validator-2,validator-3,validator-4,auditor-1`,
		Args: cobra.NoArgs,
	}
	var opts home.NetworkOptions
	cmd.Flags().IntVar(&opts.Validators, "validators", 4, "number of validator nodes")
	cmd.Flags().IntVar(&opts.Auditors, "auditors", 1, "number of auditor nodes")
	out := cmd.Flags().String("out", "", "directory to write the network into (required)")
	cmd.Flags().IntVar(&opts.BasePort, "base-port", home.DefaultBasePort, "first loopback port; each node uses 10 from here")
	cmd.Flags().BoolVar(&opts.DevnetParams, "devnet-params", false, "devnet parameters: settle every 5 minutes, a reading every 10 s")
	cmd.Flags().StringVar(&opts.ChainID, "chain-id", "", `chain id (default "waterchain-testnet", or "waterchain-devnet" with --devnet-params)`)
	cmd.Flags().StringSliceVar(&opts.Hosts, "hosts", nil, "one host name or IP per node (validators, then auditors): each node on its own host, listening on all interfaces at --base-port, +1 (API), +2 (MQTT)")
	cmd.Flags().IntVar(&opts.DevicesPerIndustry, "devices", 0, "meters registered in genesis per industry (their keys in DIR/devices/)")
	cmd.Flags().BoolVar(&opts.Overwrite, "overwrite", false, "replace a network written before in DIR (its keys and data are lost)")
	_ = cmd.MarkFlagRequired("out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		nw, err := home.WriteNetwork(*out, opts)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "wrote network %s to %s (genesis %s)\n\n", nw.Genesis.ChainID, nw.Dir, nw.Genesis.Hash().Short())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tROLE\tAPI\tP2P\tINDUSTRY")
		for _, n := range nw.Nodes {
			ind := n.Industry
			if ind == "" {
				ind = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.API, n.P2PListen, ind)
		}
		tw.Flush()
		fmt.Fprintln(w, "\naccount keys:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range nw.Accounts {
			rel, err := filepath.Rel(nw.Dir, a.KeyFile)
			if err != nil {
				rel = a.KeyFile
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Name, a.Role, a.Address, rel)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nstart each node in its own terminal:\n")
		for _, n := range nw.Nodes {
			fmt.Fprintf(w, "  waterchain run --home %s\n", n.Home)
		}
		fmt.Fprintf(w, "nodes are listed for scripts in %s\n", nw.Manifest)
		return nil
	}
	return cmd
}
