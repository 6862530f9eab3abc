package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/keys"
)

func init() { rootCmd.AddCommand(newKeysCmd()) }

// keyInfo is what keys new and keys show print.
type keyInfo struct {
	File      string        `json:"file"`
	PublicKey chain.PubKey  `json:"public_key"`
	Address   chain.Address `json:"address"`
	PeerID    string        `json:"peer_id"`
}

func describeKey(file string, key *chain.PrivateKey) (keyInfo, error) {
	id, err := home.PeerID(key.Public())
	if err != nil {
		return keyInfo{}, err
	}
	return keyInfo{File: file, PublicKey: key.Public(), Address: key.Public().Address(), PeerID: id.String()}, nil
}

func printKeyInfo(cmd *cobra.Command, info keyInfo, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		return printJSON(out, info)
	}
	fmt.Fprintf(out, "file        %s\n", info.File)
	fmt.Fprintf(out, "public key  %s\n", info.PublicKey)
	fmt.Fprintf(out, "address     %s   (as an account key)\n", info.Address)
	fmt.Fprintf(out, "peer id     %s   (as a node key)\n", info.PeerID)
	return nil
}

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Make and inspect ed25519 key files (node keys and account keys)",
		Long: `Key files hold one ed25519 key as JSON, readable by their owner only
(mode 0600). The same kind of file serves as a node key (the node's identity
in genesis and on libp2p) and as an account key (an industry or regulator
that signs transactions).`,
		Example: `  waterchain keys new --out riverside.json
  waterchain keys show riverside.json`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newKeysNewCmd(), newKeysShowCmd(), newKeysMQTTTokenCmd())
	return cmd
}

func newKeysNewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "new --out FILE",
		Short: "Make a new key and write it to FILE (mode 0600; never overwrites)",
		Long: `Make a new ed25519 key from the system's random source and write it to FILE
with mode 0600, creating FILE's directory if needed. An existing FILE is never
overwritten. Prints the public key, the account address and the libp2p peer
ID; put the public key in genesis (node_key or account).`,
		Example: `  waterchain keys new --out validator-5/node_key.json
  waterchain keys new --out accounts/riverside.json --json`,
		Args: cobra.NoArgs,
	}
	out := cmd.Flags().String("out", "", "file to write the key to (required)")
	asJSON := cmd.Flags().Bool("json", false, "print the key's description as JSON")
	_ = cmd.MarkFlagRequired("out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		key, err := keys.New(*out)
		if err != nil {
			return err
		}
		info, err := describeKey(*out, key)
		if err != nil {
			return err
		}
		return printKeyInfo(cmd, info, *asJSON)
	}
	return cmd
}

func newKeysShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Show a key file's public key, account address and libp2p peer ID",
		Long: `Show the public key of the key file FILE, the account address it has as an
account key, and the libp2p peer ID it has as a node key (the /p2p/ part of
the node's bootstrap multiaddr). The private key is never printed.`,
		Example: `  waterchain keys show mynode/node_key.json
  waterchain keys show accounts/regulator.json --json
  waterchain tx transfer --key a.json --to $(waterchain keys show accounts/regulator.json --address) --amount 1`,
		Args: cobra.ExactArgs(1),
	}
	asJSON := cmd.Flags().Bool("json", false, "print as JSON")
	public := cmd.Flags().Bool("public", false, "print only the public key (for scripts)")
	address := cmd.Flags().Bool("address", false, "print only the account address (for scripts)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		key, err := keys.Load(args[0])
		if err != nil {
			return err
		}
		switch {
		case *public:
			fmt.Fprintln(cmd.OutOrStdout(), key.Public())
			return nil
		case *address:
			fmt.Fprintln(cmd.OutOrStdout(), key.Public().Address())
			return nil
		}
		info, err := describeKey(args[0], key)
		if err != nil {
			return err
		}
		return printKeyInfo(cmd, info, *asJSON)
	}
	return cmd
}
