package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/home"
)

func init() { rootCmd.AddCommand(newRunCmd()) }

// newRunCmd is run: one node from its home directory.
func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run --home DIR [--p2p-listen MA]... [--api-listen ADDR] [--bootstrap MA]...",
		Short: "Run a node (validator or auditor, from its key's place in genesis)",
		Long: `Run a node from its home directory (made by "waterchain init" or
"waterchain testnet"). The node's role comes from its key's place in genesis:
a validator votes, an auditor follows and re-verifies everything. Flags
override config.toml for this run. Ctrl-C (SIGINT) or SIGTERM stops it
cleanly; run it again to resume from the last finalized block.`,
		Example: `  waterchain run --home testnet/validator-1
  waterchain run --home node1 --api-listen 127.0.0.1:7071 --p2p-listen /ip4/0.0.0.0/tcp/26656 \
    --bootstrap /ip4/10.0.0.2/tcp/26656/p2p/12D3KooW...`,
		Args: cobra.NoArgs,
	}
	homeDir := cmd.Flags().String("home", "", "node home directory (required)")
	p2pListen := cmd.Flags().StringArray("p2p-listen", nil, "libp2p listen multiaddr (repeatable; replaces config p2p.listen)")
	apiListen := cmd.Flags().String("api-listen", "", "HTTP API host:port (replaces config api.listen)")
	bootstrap := cmd.Flags().StringArray("bootstrap", nil, "bootstrap peer multiaddr with /p2p/ID (repeatable; replaces config p2p.bootstrap)")
	logLevel := cmd.Flags().String("log-level", "", "debug, info, warn or error (replaces config log.level)")
	cpuprofile := cmd.Flags().String("cpuprofile", "", "write a CPU profile of the node, from start until it stops, to this file (go tool pprof)")
	pprofAddr := cmd.Flags().String("pprof", "", "serve Go's runtime profiles (net/http/pprof: /debug/pprof/profile?seconds=N and the rest) on this host:port, apart from the API; for loopback only, e.g. 127.0.0.1:6060")
	traceFile := cmd.Flags().String("trace", "", "write a runtime execution trace of the node, from start until it stops, to this file (go tool trace): which goroutines ran when, and what they waited for")
	_ = cmd.MarkFlagRequired("home")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		h, err := home.Open(*homeDir)
		if err != nil {
			return err
		}
		cfg, err := h.LoadConfig()
		if err != nil {
			return err
		}
		if len(*p2pListen) > 0 {
			cfg.P2P.Listen = *p2pListen
		}
		if *apiListen != "" {
			cfg.API.Listen = *apiListen
		}
		if len(*bootstrap) > 0 {
			cfg.P2P.Bootstrap = *bootstrap
		}
		if *logLevel != "" {
			cfg.Log.Level = *logLevel
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("flags: %w", err)
		}
		g, err := h.LoadGenesis()
		if err != nil {
			return err
		}
		key, err := h.LoadNodeKey()
		if err != nil {
			return err
		}
		logger := newLogger(cfg)
		if *cpuprofile != "" {
			stopProfile, err := startCPUProfile(*cpuprofile)
			if err != nil {
				return err
			}
			defer stopProfile()
		}
		if *pprofAddr != "" {
			stopPprof, err := servePprof(*pprofAddr, logger)
			if err != nil {
				return err
			}
			defer stopPprof()
		}
		if *traceFile != "" {
			stopTrace, err := startTrace(*traceFile)
			if err != nil {
				return err
			}
			defer stopTrace()
		}
		n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: logger})
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := n.Start(ctx); err != nil {
			n.Close()
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s node running: API and dashboard at http://%s\n", n.Role(), n.APIAddr())
		select {
		case <-ctx.Done():
			logger.Info("stopping")
		case <-n.Done():
		}
		closeErr := n.Close()
		if err := n.Err(); err != nil {
			return err
		}
		return closeErr
	}
	return cmd
}

// newLogger makes the node's slog logger from the config's log section.
func newLogger(cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
