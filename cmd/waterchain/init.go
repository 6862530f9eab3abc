package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node/home"
)

func init() { rootCmd.AddCommand(newInitCmd()) }

func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init --home DIR --genesis FILE [--key FILE]",
		Short: "Make a node home: node key, genesis copy and default config",
		Long: `Make a node home in DIR: check the genesis FILE and copy it to
DIR/genesis.json, adopt the node key --key (copied to DIR/node_key.json) or
make a new one, write the default DIR/config.toml, and create DIR/data and
DIR/wal.

The node's role (validator, auditor, observer) comes from where its node key
appears in genesis. A key genesis does not name cannot join the network: give
its public key to the network's operators.

An existing home is never overwritten: its node key and chain data would be
lost.`,
		Example: `  waterchain init --home ~/.waterchain --genesis genesis.json
  waterchain init --home /srv/waterchain --genesis genesis.json --key validator-3.json`,
		Args: cobra.NoArgs,
	}
	dir := cmd.Flags().String("home", "", "node home directory to create (required)")
	genesisFile := cmd.Flags().String("genesis", "", "the network's genesis.json (required)")
	keyFile := cmd.Flags().String("key", "", "existing node key file to adopt (default: make a new key)")
	_ = cmd.MarkFlagRequired("home")
	_ = cmd.MarkFlagRequired("genesis")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		h, err := home.Init(*dir, *genesisFile, *keyFile)
		if err != nil {
			return err
		}
		g, err := h.LoadGenesis()
		if err != nil {
			return err
		}
		key, err := h.LoadNodeKey()
		if err != nil {
			return err
		}
		id, err := home.PeerID(key.Public())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "initialized node home %s\n", h.Dir)
		fmt.Fprintf(out, "  chain     %s (genesis %s)\n", g.ChainID, g.Hash().Short())
		fmt.Fprintf(out, "  node key  %s\n", key.Public())
		fmt.Fprintf(out, "  peer id   %s\n", id)
		if role, name, ok := g.RoleOf(key.Public()); ok {
			fmt.Fprintf(out, "  role      %s %q\n", role, name)
		} else {
			fmt.Fprintf(out, "  role      none: genesis does not name this node key, so peers will not admit it;\n")
			fmt.Fprintf(out, "            give the key above to the network's operators\n")
		}
		fmt.Fprintf(out, "  config    %s (edit p2p.bootstrap to name the network's peers)\n", h.ConfigFile())
		fmt.Fprintf(out, "next: waterchain run --home %s\n", filepath.Clean(*dir))
		return nil
	}
	return cmd
}
