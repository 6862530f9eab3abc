package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node/backup"
	"github.com/waterchain/waterchain/node/home"
)

func init() { rootCmd.AddCommand(newBackupCmd(), newRestoreCmd()) }

func newBackupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup --home DIR --out FILE [--include-node-key]",
		Short: "Back up a node home: a consistent snapshot of its store, its config and genesis",
		Long: `Write a backup of the node home DIR to FILE (a gzipped tar): a consistent
snapshot of the store (every block finalized before the backup started, with
its certificate, indexes and state), config.toml and genesis.json.

The node may be running: the snapshot is then taken through its admin socket
(DIR/admin.sock, reachable only by the home's owner) while it keeps
finalizing. A stopped node's store is read directly.

The node key is left out unless --include-node-key: a backup is often kept
where a validator's signing key must not be. The consensus WAL is never
included (see "waterchain restore --help").`,
		Example: `  waterchain backup --home /srv/waterchain --out /backups/waterchain-$(date +%F).tar.gz
  waterchain backup --home ~/.waterchain --out node.tar.gz --include-node-key`,
		Args: cobra.NoArgs,
	}
	dir := cmd.Flags().String("home", "", "node home directory (required)")
	out := cmd.Flags().String("out", "", "backup file to write (required; never overwritten)")
	withKey := cmd.Flags().Bool("include-node-key", false, "put the node key in the backup")
	_ = cmd.MarkFlagRequired("home")
	_ = cmd.MarkFlagRequired("out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		h, err := home.Open(*dir)
		if err != nil {
			return err
		}
		// Written beside its final name and renamed when whole, so a
		// FILE that exists is always a complete backup.
		f, err := os.CreateTemp(filepath.Dir(*out), ".waterchain-backup-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		m, err := backup.Write(cmd.Context(), f, h, backup.Options{IncludeNodeKey: *withKey, TempDir: filepath.Dir(*out)})
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if _, err := os.Stat(*out); err == nil {
			return fmt.Errorf("%s exists: choose a new file name (a backup never overwrites one)", *out)
		}
		if err := os.Rename(f.Name(), *out); err != nil {
			return err
		}
		mode := "stopped node"
		if m.Online {
			mode = "running node"
		}
		key := "without the node key"
		if m.NodeKey {
			key = "with the node key"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "backed up %s (%s, %s): chain %s, data height %d, tx height %d, store %d bytes\n",
			*out, mode, key, m.ChainID, m.DataHeight, m.TxHeight, m.StoreBytes)
		return nil
	}
	return cmd
}

func newRestoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore --in FILE --home DIR [--node-key FILE | --new-node-key]",
		Short: "Make a new node home from a backup",
		Long: `Make a new node home DIR from the backup FILE. DIR must not exist or be
empty. The whole backup is checked (its manifest, the store stream's SHA-256,
the genesis hash) before anything is written. Start the node with
"waterchain run --home DIR": it then catches up from its peers by block sync.

The node key: --node-key FILE, else the one in the backup. A backup without
one needs --node-key, or --new-node-key for a node that only follows (an
observer).

The consensus WAL is never restored. It records every proposal and vote the
validator signed; an older copy would let it sign again, for a height and
round it already signed at, something different: equivocation, which the
other validators record as evidence against it. The restored home starts
with an empty WAL. Restore a validator only once its old node is stopped for
good; if the old machine's wal/ directory survived, copy it into DIR before
the first start (it is newer than any backup).`,
		Example: `  waterchain restore --in /backups/waterchain-2026-12-01.tar.gz --home /srv/waterchain --node-key /secure/node_key.json
  waterchain restore --in node.tar.gz --home ~/.waterchain-copy --new-node-key`,
		Args: cobra.NoArgs,
	}
	in := cmd.Flags().String("in", "", "backup file (required)")
	dir := cmd.Flags().String("home", "", "node home directory to create (required)")
	keyFile := cmd.Flags().String("node-key", "", "node key file for the restored home (overrides one in the backup)")
	newKey := cmd.Flags().Bool("new-node-key", false, "make a new node key when the backup has none (the node then follows as an observer)")
	_ = cmd.MarkFlagRequired("in")
	_ = cmd.MarkFlagRequired("home")
	cmd.MarkFlagsMutuallyExclusive("node-key", "new-node-key")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		m, err := backup.Restore(f, *dir, backup.RestoreOptions{NodeKeyFile: *keyFile, NewNodeKey: *newKey})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "restored %s: chain %s, data height %d, tx height %d (backed up %s by %s)\nstart it with: waterchain run --home %s\n",
			*dir, m.ChainID, m.DataHeight, m.TxHeight, m.Created.Format("2006-01-02 15:04:05 UTC"), m.Version, *dir)
		return nil
	}
	return cmd
}
