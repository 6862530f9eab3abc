package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/report"
)

// Exit statuses of audit verify: the chain does not verify (a bad block,
// entry or state entry was found) is told apart from not being able to
// audit at all (exit 1).
const exitAuditFailed = 2

func init() { rootCmd.AddCommand(newAuditCmd()) }

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Re-verify a node's store offline, and write compliance reports",
		Long: `The regulator's tools, run against the home directory of a stopped node
(usually an auditor's): "audit verify" re-verifies everything from genesis,
"audit report" writes a period's compliance report per industry.`,
		Example: `  waterchain audit verify --home ./auditor-1
  waterchain audit report --home ./auditor-1 --period 2026-11 --format csv --out 2026-11.csv`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditReportCmd())
	return cmd
}

// auditHome is a stopped node's home opened for reading: its genesis,
// config and store.
type auditHome struct {
	genesis *genesis.Genesis
	config  *config.Config
	kv      *store.BadgerKV
	store   *store.Store
}

// openAuditHome opens the store of the node home dir read-only. The node
// must be stopped: badger's lock refuses a running one, and the error
// says so.
func openAuditHome(dir string, stderr io.Writer) (*auditHome, error) {
	if dir == "" {
		return nil, errors.New("--home is required: the home directory of the node whose store to audit")
	}
	h, err := home.Open(dir)
	if err != nil {
		return nil, err
	}
	g, err := h.LoadGenesis()
	if err != nil {
		return nil, err
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return nil, err
	}
	data, _ := h.StorageDirs(cfg)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	kv, err := store.OpenBadger(data, store.BadgerOptions{Logger: log, ReadOnly: true})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("the store of %s is open in another process: stop the node running from this home, then audit it (%w)", dir, err)
	}
	if err != nil {
		return nil, err
	}
	st, err := store.Open(kv)
	if err != nil {
		kv.Close()
		return nil, fmt.Errorf("opening the store in %s: %w", data, err)
	}
	if _, err := st.GenesisHash(); errors.Is(err, store.ErrNoGenesis) {
		kv.Close()
		return nil, fmt.Errorf("the store in %s holds no chain yet (has the node run?)", data)
	}
	return &auditHome{genesis: g, config: cfg, kv: kv, store: st}, nil
}

func (a *auditHome) close() { a.kv.Close() }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newAuditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify --home DIR",
		Short: "Re-verify a stopped node's whole store from genesis",
		Long: `Re-verifies the chain stored in a node's home, offline, from the genesis in
that home: every block's stored records and entries root, hash link, anchor,
validator set, commit certificate, every reading and transaction signature,
and a re-execution of both chains that must reproduce every state root and
settlement; finally the stored state must equal the re-executed one, key by
key. Stop the node first: the store is opened read-only and a running node
holds it.

A progress bar shows on a terminal. Exit status 0 with a summary when all
holds; 2 naming the first bad block, entry or state key and what is wrong
with it; 1 when the store cannot be audited at all.`,
		Example: `  waterchain audit verify --home ./auditor-1
  waterchain audit verify --home ./validator-2 --json`,
		Args: cobra.NoArgs,
	}
	dir := cmd.Flags().String("home", "", "home directory of the (stopped) node")
	asJSON := cmd.Flags().Bool("json", false, "print the summary as JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ah, err := openAuditHome(*dir, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer ah.close()
		opts := audit.VerifyOptions{}
		var bar *progressbar.ProgressBar
		if stderr := cmd.ErrOrStderr(); isTerminal(stderr) {
			opts.Progress = func(done, total uint64) {
				if bar == nil {
					bar = progressbar.NewOptions64(int64(total),
						progressbar.OptionSetWriter(stderr),
						progressbar.OptionSetDescription("verifying blocks"),
						progressbar.OptionShowCount(),
						progressbar.OptionSetPredictTime(true),
						progressbar.OptionThrottle(100*time.Millisecond),
						progressbar.OptionClearOnFinish())
				}
				_ = bar.Set64(int64(done))
			}
		}
		sum, err := audit.Verify(ah.store, ah.genesis, opts)
		if bar != nil {
			_ = bar.Exit()
		}
		if errors.Is(err, audit.ErrAudit) {
			return &exitError{code: exitAuditFailed, err: err}
		}
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if *asJSON {
			return printJSON(out, sum)
		}
		fmt.Fprintf(out, "OK: %s\n", sum)
		return nil
	}
	return cmd
}

func newAuditReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report --home DIR --period YYYY-MM --format csv|json",
		Short: "Write a period's compliance report, one row per industry",
		Long: `Writes the compliance report of one settlement period from a stopped node's
store: per industry its permit (allowance, limits), allowance after trades,
volume used, per measure the count of readings, min/avg/max and exceedances,
the share of expected readings delivered, alerts by kind, drops minted,
trades in and out and equivocation evidence, modelled on a discharge
monitoring report. Integers are on the chain's scales (see the README); an
average is rounded down.

The period is a label of the chain's periods: YYYY-MM for monthly periods,
YYYY-MM-DDThh:mm (its start, UTC) for fixed-length devnet periods; or a
period number. The report reads the store as it is; run "audit verify"
to check it. A running node serves the same report at GET /v1/reports/{period}.`,
		Example: `  waterchain audit report --home ./auditor-1 --period 2026-11 --format csv --out 2026-11.csv
  waterchain audit report --home ./devnet/auditor-1 --period 2026-11-29T05:10 --format json`,
		Args: cobra.NoArgs,
	}
	dir := cmd.Flags().String("home", "", "home directory of the (stopped) node")
	period := cmd.Flags().String("period", "", "period label (YYYY-MM, or YYYY-MM-DDThh:mm on fixed-length periods) or number")
	format := cmd.Flags().String("format", "csv", "csv or json")
	outPath := cmd.Flags().String("out", "", "write the report to FILE instead of standard output")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *format != "csv" && *format != "json" {
			return fmt.Errorf("--format %q: want csv or json", *format)
		}
		if *period == "" {
			return errors.New("--period is required, such as --period 2026-11")
		}
		ah, err := openAuditHome(*dir, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer ah.close()
		th := ah.config.Alerts.Thresholds
		rep, err := report.BuildReportWith(ah.store, ah.genesis, *period, report.ReportOptions{Thresholds: &th})
		if err != nil {
			return err
		}
		return writeOutput(cmd.OutOrStdout(), *outPath, func(w io.Writer) error {
			if *format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteCSV(w)
		})
	}
	return cmd
}

// writeOutput writes with write to the file at path (atomically: a
// temporary file renamed into place) or, when path is "", to stdout.
func writeOutput(stdout io.Writer, path string, write func(io.Writer) error) error {
	if path == "" {
		return write(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return nil
}
