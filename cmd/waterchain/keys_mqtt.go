package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/ingest"
	"github.com/waterchain/waterchain/node/keys"
)

// mqttCredentials is what keys mqtt-token prints with --json.
type mqttCredentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func newKeysMQTTTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mqtt-token --key METER-KEY [--chain-id ID]",
		Short: "Print a meter's MQTT username and a fresh password token",
		Long: `Print the credentials with which a meter connects to a node's MQTT broker:
the username is the meter's device key (hex), the password a token
UNIX-MILLISECONDS:SIGNATURE-HEX signed with the meter's key for the chain
(see node/ingest/README.md). A token is valid for one connection, within the
node's token window (default ±120 s) of the time it names: make a new one for
each connection. The chain id is asked from --node unless --chain-id gives it.`,
		Example: `  waterchain keys mqtt-token --key meter.json --chain-id waterchain-devnet
  mosquitto_pub -h NODE -u "$(waterchain keys show meter.json --public)" \
    -P "$(waterchain keys mqtt-token --key meter.json --password)" -t ... -f reading.json`,
		Args: cobra.NoArgs,
	}
	node := addNodeFlag(cmd)
	keyFile := cmd.Flags().String("key", "", "the meter's key file (required)")
	chainID := cmd.Flags().String("chain-id", "", "chain id (default: ask --node)")
	at := cmd.Flags().String("time", "", "token time, RFC 3339 (default: now)")
	userOnly := cmd.Flags().Bool("username", false, "print only the username (for scripts)")
	passOnly := cmd.Flags().Bool("password", false, "print only the password (for scripts)")
	asJSON := cmd.Flags().Bool("json", false, "print as JSON")
	_ = cmd.MarkFlagRequired("key")
	cmd.MarkFlagsMutuallyExclusive("username", "password", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		key, err := keys.Load(*keyFile)
		if err != nil {
			return err
		}
		when := time.Now()
		if *at != "" {
			if when, err = time.Parse(time.RFC3339Nano, *at); err != nil {
				return fmt.Errorf("--time %q: want RFC 3339 such as 2026-11-29T10:00:00Z", *at)
			}
		}
		id := *chainID
		if id == "" {
			c, err := newAPIClient(*node)
			if err != nil {
				return err
			}
			var st api.Status
			if err := c.get(cmd.Context(), "/v1/status", &st); err != nil {
				return fmt.Errorf("asking %s for the chain id (or give --chain-id): %w", *node, err)
			}
			id = st.ChainID
		}
		user, pass := ingest.MQTTCredentials(id, key, when)
		out := cmd.OutOrStdout()
		switch {
		case *userOnly:
			fmt.Fprintln(out, user)
		case *passOnly:
			fmt.Fprintln(out, pass)
		case *asJSON:
			return printJSON(out, mqttCredentials{Username: user, Password: pass})
		default:
			fmt.Fprintf(out, "username  %s\npassword  %s\n", user, pass)
		}
		return nil
	}
	return cmd
}
