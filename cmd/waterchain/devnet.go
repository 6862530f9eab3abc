package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/node"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/home"
)

// devnetManifest is the manifest file devnet writes in its directory.
const devnetManifest = "devnet.json"

func init() { rootCmd.AddCommand(newDevnetCmd()) }

// newDevnetCmd is devnet: a whole local network in one process.
func newDevnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devnet [--validators 4] [--auditors 1] [--devices 2] [--dir DIR] [--quiet]",
		Short: "Run a whole local network: validators, an auditor, simulated meters and the dashboard",
		Long: `Run a whole Waterchain network on loopback in one process: validators, auditors,
simulated meters pushing readings, and every node's API and dashboard. The
network's genesis, keys and chain data live in DIR; run the command again on
the same DIR to resume where it stopped. DIR/devnet.json lists the nodes for
scripts. Ctrl-C stops it cleanly.

On top of the meters the devnet plays a short story, so that every page of
the dashboard has something to show within five minutes: industries offer
and buy allowance every period (signed with their keys in DIR/accounts),
one meter breaches its discharge limits, another leaks through a night
(simulated days last 2 minutes), and the first 4-minute settlement period
settles and mints drops. It prints what to look at and when, and logs each
step as a "story:" line. The story follows the chain's state, so a resumed
devnet continues it rather than replaying it. --quiet runs the meters alone.`,
		Example: `  waterchain devnet
  waterchain devnet --quiet --validators 7 --auditors 2 --devices 3 --dir /tmp/wc
  waterchain devnet --dir /tmp/wc --no-meters
  waterchain devnet --fault 2:stuck --fault 5:missed`,
		Args: cobra.NoArgs,
	}
	validators := cmd.Flags().Int("validators", 4, "validator nodes")
	auditors := cmd.Flags().Int("auditors", 1, "auditor nodes")
	devices := cmd.Flags().Int("devices", 2, "simulated meters per industry")
	dir := cmd.Flags().String("dir", "waterchain-devnet", "directory of the network (made if missing, resumed if it holds one)")
	basePort := cmd.Flags().Int("base-port", home.DefaultBasePort, "first port; node k uses base+10k (p2p) and base+10k+1 (API)")
	noMeters := cmd.Flags().Bool("no-meters", false, "do not run the simulated meters")
	faults := cmd.Flags().StringArray("fault", nil, "METER:KIND switches a simulated fault on for meter METER (1-based): leak, stuck, missed, backwards, clock-skew, limit-breach, forged-sig")
	quiet := cmd.Flags().Bool("quiet", false, "no story: meters only (and --fault), no scripted faults or market")
	logLevel := cmd.Flags().String("log-level", "warn", "node log level: debug, info, warn or error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		out := cmd.OutOrStdout()
		nw, resumed, err := openOrCreateDevnet(*dir, home.NetworkOptions{
			Validators: *validators, Auditors: *auditors, BasePort: *basePort,
			DevnetParams: true, Manifest: devnetManifest, DevicesPerIndustry: *devices,
			PermitFor: devnetPermit(*devices), SettlementPeriod: devnetSettlementPeriod,
		})
		if err != nil {
			return err
		}
		level := slog.LevelWarn
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
		}
		nodes, err := startDevnetNodes(ctx, nw, level)
		defer func() {
			for _, n := range nodes {
				n.Close()
			}
		}()
		if err != nil {
			return err
		}
		verb := "created"
		if resumed {
			verb = "resumed"
		}
		fmt.Fprintf(out, "Waterchain devnet %s in %s (chain %s)\n\n", verb, nw.Dir, nw.Genesis.ChainID)
		printDevnet(out, nw)
		th, err := devnetThresholds(nw)
		if err != nil {
			return err
		}
		var switches chan meterSwitch
		if !*noMeters && !*quiet {
			switches = make(chan meterSwitch, 8)
		}
		if !*noMeters {
			if err := startDevnetMeters(ctx, cmd.ErrOrStderr(), nw, time.Duration(th.DayLength)*time.Millisecond, *faults, switches); err != nil {
				return err
			}
		}
		if !*quiet {
			story, err := newDevnetStory(nw, th, out, switches)
			if err != nil {
				return err
			}
			story.printGuide(ctx, out, nw.Nodes[0].API+"/")
			story.play(ctx)
		}
		fmt.Fprintf(out, "\nTry:  waterchain status --node %s\n", nw.Nodes[0].API)
		fmt.Fprintf(out, "Stop with Ctrl-C; run the same command again to resume.\n")
		// Wait for Ctrl-C or for a node to stop on its own.
		done := make(chan error, len(nodes))
		for _, n := range nodes {
			go func() {
				<-n.Done()
				done <- n.Err()
			}()
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping the devnet…")
			return nil
		case err := <-done:
			if err == nil {
				err = errors.New("a node stopped")
			}
			return err
		}
	}
	return cmd
}

// openOrCreateDevnet resumes the network in dir, or writes a new one.
func openOrCreateDevnet(dir string, opts home.NetworkOptions) (*home.Network, bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, false, err
	}
	manifest := filepath.Join(abs, devnetManifest)
	if _, err := os.Stat(manifest); err == nil {
		nw, err := home.OpenNetwork(abs, devnetManifest)
		return nw, true, err
	}
	nw, err := home.WriteNetwork(abs, opts)
	return nw, false, err
}

// devnetThresholds are the alert thresholds of nw's first node: the
// rules' day is the simulated meters' day (home.DevnetDayLength when the
// devnet was made), and the story times its leak by their night.
func devnetThresholds(nw *home.Network) (alerts.Thresholds, error) {
	h, err := home.Open(nw.Nodes[0].Home)
	if err != nil {
		return alerts.Thresholds{}, err
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return alerts.Thresholds{}, err
	}
	return cfg.Alerts.Thresholds, nil
}

// startDevnetNodes starts every node of nw in this process.
func startDevnetNodes(ctx context.Context, nw *home.Network, level slog.Level) ([]*node.Node, error) {
	var nodes []*node.Node
	for _, nn := range nw.Nodes {
		h, err := home.Open(nn.Home)
		if err != nil {
			return nodes, err
		}
		cfg, err := h.LoadConfig()
		if err != nil {
			return nodes, err
		}
		g, err := h.LoadGenesis()
		if err != nil {
			return nodes, err
		}
		key, err := h.LoadNodeKey()
		if err != nil {
			return nodes, err
		}
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		n, err := node.New(node.Options{Home: h.Dir, Config: cfg, Genesis: g, Key: key, Logger: logger, Name: nn.Name})
		if err != nil {
			return nodes, fmt.Errorf("%s: %w", nn.Name, err)
		}
		if err := n.Start(ctx); err != nil {
			n.Close()
			return nodes, fmt.Errorf("%s: %w", nn.Name, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func printDevnet(out io.Writer, nw *home.Network) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tDASHBOARD AND API\tINDUSTRY")
	for _, n := range nw.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s/\t%s\n", n.Name, n.Role, n.API, n.Industry)
	}
	tw.Flush()
	var accts []string
	for _, a := range nw.Accounts {
		accts = append(accts, fmt.Sprintf("  %-26s %s  %s", a.Name, a.Address, a.KeyFile))
	}
	sort.Strings(accts)
	fmt.Fprintf(out, "\nAccount keys (for waterchain tx … --key FILE):\n%s\n", strings.Join(accts, "\n"))
}
