package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node"
)

func init() { rootCmd.AddCommand(newVersionCmd()) }

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, source commit and Go version of this binary",
		Long: `Print which software this binary is: its version, the source commit it was
built from (when the build recorded one) and the Go version. A running node
reports the same in GET /v1/status.`,
		Example: `  waterchain version
  waterchain version --json`,
		Args: cobra.NoArgs,
	}
	asJSON := cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		b := node.Build()
		if *asJSON {
			return printJSON(cmd.OutOrStdout(), b)
		}
		commit := b.Commit
		switch {
		case commit == "":
			commit = "unknown (built without VCS information)"
		case b.Modified:
			commit += " (modified)"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "waterchain %s\ncommit     %s\ngo         %s %s\n", b.Version, commit, b.GoVersion, b.Platform)
		return nil
	}
	return cmd
}
