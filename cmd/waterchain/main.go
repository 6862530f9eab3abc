// Command waterchain runs and drives Waterchain nodes: a local devnet, a
// validator or auditor node, keys, signed readings and transactions, queries,
// audits, proofs and the benchmark. Run "waterchain --help" for the list.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the waterchain command. Each subcommand lives in a file of its
// own and adds itself in an init function.
var rootCmd = &cobra.Command{
	Use:   "waterchain",
	Short: "Waterchain: a permissioned blockchain for wastewater monitoring and a water-allowance economy",
	Long: `Waterchain records signed water-meter readings on a data chain and water-drop
transfers, allowance trades, devices, permits and governance on a transaction
chain, both finalized by round-robin proof-of-authority with BFT votes.

Start a whole local network with simulated meters and the dashboard:

  waterchain devnet`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", oneLine(err))
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// oneLine keeps a user-facing error on one line.
func oneLine(err error) string {
	s := err.Error()
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
