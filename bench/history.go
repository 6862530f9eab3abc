package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/waterchain/waterchain/bench/verifyrate"
)

// The history benchmark (waterchain bench history) builds a long, fully
// valid history straight into a node store — blocks of both lanes built,
// executed and certified by the code a node commits with, readings signed
// by meters registered in genesis, every precommit signed by the genesis
// validators' own node keys — copies it into every validator home of a
// network written by home.WriteNetwork, and then measures on it, in one
// run: bytes on disk per block and per reading, the start and restart of a
// validator process holding it, the catch-up of a fresh auditor process
// syncing it from the validators over libp2p, and `waterchain audit verify`
// over it. No consensus round runs while the history is built.

// Defaults of HistoryOptions.
const (
	DefaultHistoryBlocks         = 20_000
	DefaultHistoryReadings       = 100
	DefaultHistoryValidators     = 4
	DefaultHistoryInterval       = 5 * time.Second
	DefaultHistoryCatchupTimeout = 3 * time.Minute
	DefaultHistoryStartTimeout   = 5 * time.Minute
	// MaxHistoryBlocks bounds --blocks (data blocks).
	MaxHistoryBlocks = 50_000_000
	// MaxHistoryReadings bounds the readings of one data block: a node's
	// proposer puts at most 20,000 in a block.
	MaxHistoryReadings = 20_000
)

// HistoryOptions shape a history run. Zero fields take the defaults.
type HistoryOptions struct {
	// Binary is the waterchain executable the nodes and the audit run as
	// (required).
	Binary string
	// Blocks is the length of the data lane (default 20,000).
	Blocks int
	// FullBlocks is how many of the data blocks carry readings: the last
	// ones, after Blocks-FullBlocks empty blocks. Default: a tenth of
	// Blocks; -1 means none.
	FullBlocks int
	// Readings is the readings of each full data block (default 100).
	Readings int
	// Meters is the meters registered in genesis (spread over the
	// industries); a full block takes the next Readings of them round
	// robin. Default: Readings (every meter reads once per full block).
	Meters int
	// TxEvery makes a tx block after every TxEvery data blocks (default 1:
	// both lanes as long, as an idle network's heartbeat makes them); -1
	// means no tx blocks.
	TxEvery int
	// Interval is the time between two data blocks of the history
	// (default 5 s, the production heartbeat).
	Interval time.Duration
	// Validators of the network (default 4); one auditor is added.
	Validators int
	// CatchupTimeout bounds the catch-up measurement: the rates are then
	// those of the part synced (CatchupComplete false).
	CatchupTimeout time.Duration
	// StartTimeout bounds a node's start (the first start replays the alert
	// rules over the whole history when there is no checkpoint).
	StartTimeout time.Duration
	// AuditTimeout, when positive, bounds `waterchain audit verify` (the
	// last phase); the figures measured before it are returned with the
	// error.
	AuditTimeout time.Duration
	// VerifyDuration is how long the verification rates are measured.
	VerifyDuration time.Duration
	// Dir is where the network is written; "" means a temporary directory,
	// removed at the end. An existing Dir must be empty.
	Dir string
	// CatchupCPUProfile, when set, is a file the catching-up auditor
	// writes a CPU profile of its whole run to (waterchain run
	// --cpuprofile), when it stops.
	CatchupCPUProfile string
	// CatchupTrace, when set, is a file the catching-up auditor writes a
	// runtime execution trace of its whole run to (waterchain run
	// --trace): which of its stages ran when, and which waited.
	CatchupTrace string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Progress, when set, receives a line per phase.
	Progress func(string)
}

func (o HistoryOptions) withDefaults() HistoryOptions {
	if o.Blocks == 0 {
		o.Blocks = DefaultHistoryBlocks
	}
	switch {
	case o.FullBlocks == 0:
		o.FullBlocks = max(1, o.Blocks/10)
	case o.FullBlocks < 0:
		o.FullBlocks = 0
	}
	if o.Readings == 0 {
		o.Readings = DefaultHistoryReadings
	}
	if o.Meters == 0 {
		o.Meters = o.Readings
	}
	if o.TxEvery == 0 {
		o.TxEvery = 1
	}
	if o.Interval == 0 {
		o.Interval = DefaultHistoryInterval
	}
	if o.Validators == 0 {
		o.Validators = DefaultHistoryValidators
	}
	if o.Validators > 0 && o.Meters%o.Validators != 0 {
		o.Meters += o.Validators - o.Meters%o.Validators
	}
	if o.CatchupTimeout == 0 {
		o.CatchupTimeout = DefaultHistoryCatchupTimeout
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultHistoryStartTimeout
	}
	if o.VerifyDuration == 0 {
		o.VerifyDuration = DefaultVerifyDuration
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports the first invalid field of o (after defaults).
func (o HistoryOptions) Validate() error {
	o = o.withDefaults()
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrOptions, field, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Binary == "":
		return bad("Binary", "empty; give the waterchain executable the nodes run as")
	case o.Blocks < 1 || o.Blocks > MaxHistoryBlocks:
		return bad("Blocks", "%d; want 1 to %d", o.Blocks, MaxHistoryBlocks)
	case o.FullBlocks > o.Blocks:
		return bad("FullBlocks", "%d; more than the %d data blocks", o.FullBlocks, o.Blocks)
	case o.Readings < 1 || o.Readings > MaxHistoryReadings:
		return bad("Readings", "%d; want 1 to %d", o.Readings, MaxHistoryReadings)
	case o.Meters < o.Readings || o.Meters > o.Validators*4096:
		return bad("Meters", "%d; want at least the %d readings of a block (a meter reads once per block) and at most %d", o.Meters, o.Readings, o.Validators*4096)
	case o.TxEvery < -1:
		return bad("TxEvery", "%d; want a positive number, or -1 for no tx blocks", o.TxEvery)
	case o.Interval < 2*time.Millisecond || o.Interval > time.Hour:
		return bad("Interval", "%s; want 2ms to 1h", o.Interval)
	case o.Validators < 1 || o.Validators > MaxValidators:
		return bad("Validators", "%d; want 1 to %d", o.Validators, MaxValidators)
	case o.CatchupTimeout < time.Second:
		return bad("CatchupTimeout", "%s; want at least 1s", o.CatchupTimeout)
	case o.StartTimeout < time.Second:
		return bad("StartTimeout", "%s; want at least 1s", o.StartTimeout)
	case o.AuditTimeout < 0:
		return bad("AuditTimeout", "%s; want 0 (no limit) or more", o.AuditTimeout)
	case o.VerifyDuration < 10*time.Millisecond || o.VerifyDuration > time.Minute:
		return bad("VerifyDuration", "%s; want 10ms to 1m", o.VerifyDuration)
	}
	return nil
}

// HistoryTargets are the goals of issue 15 the figures are held to; they
// are printed beside the figures, never checked by the run.
type HistoryTargets struct {
	EmptyBlocksPerS float64 `json:"catchup_empty_blocks_per_s_min"`
	// ReadingsVerifyRatio: catch-up readings/s at least this fraction of
	// the batch-verify rate.
	ReadingsVerifyRatio float64 `json:"catchup_readings_verify_ratio_min"`
	// RestartS: API answering and voting, for a node holding 1,000,000
	// blocks.
	RestartS          float64 `json:"restart_s_max"`
	ReadingDiskRatio  float64 `json:"disk_reading_ratio_max"`
	EmptyBlockDiskMax float64 `json:"disk_bytes_per_empty_block_max"`
}

// IssueTargets are the targets of issue 15 on a 2-core machine.
var IssueTargets = HistoryTargets{EmptyBlocksPerS: 2500, ReadingsVerifyRatio: 0.5, RestartS: 3, ReadingDiskRatio: 1.3, EmptyBlockDiskMax: 400}

// HistoryResult is a history run's figures; its JSON is the last line of
// waterchain bench history. Times are in seconds, rates per second.
type HistoryResult struct {
	DataBlocks int    `json:"data_blocks"`
	TxBlocks   int    `json:"tx_blocks"`
	Blocks     int    `json:"blocks"` // both lanes
	FullBlocks int    `json:"full_blocks"`
	Readings   uint64 `json:"readings"`
	// ReadingsPerBlock is the readings of a full data block.
	ReadingsPerBlock int     `json:"readings_per_block"`
	Meters           int     `json:"meters"`
	Validators       int     `json:"validators"`
	IntervalS        float64 `json:"interval_s"`

	BuildS          float64 `json:"build_s"`
	BuildBlocksPerS float64 `json:"build_blocks_per_s"`
	DiskBytes       int64   `json:"disk_bytes"` // the store after close and compaction
	// DiskBytesLive is the store as the node closed it, before that
	// compaction: its newest data in level-0 tables written uncompressed
	// (chain/store.OpenBadger), at most badger's NumLevelZeroTables of them.
	DiskBytesLive    int64 `json:"disk_bytes_live"`
	DiskGenesisBytes int64 `json:"disk_genesis_bytes"` // the same, before the first block
	// DiskBytesPerEmptyBlock is the growth over the empty blocks divided
	// by their number (both lanes); 0 when there are none.
	DiskBytesPerEmptyBlock float64 `json:"disk_bytes_per_empty_block"`
	// DiskBytesPerReading is the growth over the full data blocks (and the
	// tx blocks between them), less what as many empty blocks take,
	// divided by their readings.
	DiskBytesPerReading float64 `json:"disk_bytes_per_reading"`
	// ReadingEncodedBytes is the mean canonical encoding of a reading
	// (chain.Reading.Encode, signature included).
	ReadingEncodedBytes float64 `json:"reading_encoded_bytes"`
	DiskReadingRatio    float64 `json:"disk_reading_ratio"` // per reading ÷ encoded

	// FirstStartAPIS and FirstStartVoteS: the first start of a validator
	// process on the built store (the alert rules have no checkpoint yet).
	FirstStartAPIS  float64 `json:"first_start_api_s"`
	FirstStartVoteS float64 `json:"first_start_vote_s"`
	// FirstStartAllVoteS: until every validator has voted on a block made
	// after the start (the network runs on the history).
	FirstStartAllVoteS float64 `json:"first_start_all_vote_s"`
	// RestartAPIS: from the start of the stopped validator's process to
	// its /v1/status answering; RestartVoteS: to a block final after the
	// restart that carries its own precommit, with the others running.
	RestartAPIS  float64 `json:"restart_api_s"`
	RestartVoteS float64 `json:"restart_vote_s"`

	// Catch-up of a fresh auditor from the validators, from its
	// /v1/status heights over time.
	CatchupS                float64 `json:"catchup_s"`
	CatchupComplete         bool    `json:"catchup_complete"`
	CatchupBlocks           int     `json:"catchup_blocks"`
	CatchupBlocksPerS       float64 `json:"catchup_blocks_per_s"`
	CatchupReadingsPerS     float64 `json:"catchup_readings_per_s"`
	CatchupEmptyBlocksPerS  float64 `json:"catchup_empty_blocks_per_s"` // over the empty part
	CatchupFullBlocksPerS   float64 `json:"catchup_full_blocks_per_s"`  // over the full part
	CatchupFullReadingsPerS float64 `json:"catchup_full_readings_per_s"`
	// CatchupFullCPUS is the CPU time (user and system, every thread) the
	// auditor process spent over the full part, and
	// CatchupFullReadingsPerCPUS its readings over it: on a shared
	// machine, the figure that depends least on the share of the cores
	// the auditor got (Linux only; 0 elsewhere).
	CatchupFullCPUS            float64 `json:"catchup_full_cpu_s"`
	CatchupFullReadingsPerCPUS float64 `json:"catchup_full_readings_per_cpu_s"`
	// CatchupPeakRSSBytes is the most memory the auditor process held
	// resident until it caught up (VmHWM; Linux only, 0 elsewhere): what
	// a catching-up node needs, which must not grow with the history.
	CatchupPeakRSSBytes int64 `json:"catchup_peak_rss_bytes"`
	// BatchVerifyPerS and VerifyPerS are this machine's rates on all
	// cores, measured in this run (package verifyrate): the batch rate
	// before the nodes start and after the catch-up, the higher of the
	// two.
	BatchVerifyPerS float64 `json:"batch_verify_per_s"`
	VerifyPerS      float64 `json:"verify_per_s"`
	// CatchupReadingsVerifyRatio is CatchupFullReadingsPerS ÷
	// BatchVerifyPerS.
	CatchupReadingsVerifyRatio float64 `json:"catchup_readings_verify_ratio"`

	AuditVerifyS          float64 `json:"audit_verify_s"`
	AuditVerifyBlocksPerS float64 `json:"audit_verify_blocks_per_s"`

	Targets    HistoryTargets    `json:"targets"`
	Conditions HistoryConditions `json:"conditions"`
}

// HistoryConditions are what the figures depend on.
type HistoryConditions struct {
	Cores    int    `json:"cores"`
	CPUs     int    `json:"cpus"`
	LoadAvg  string `json:"load_avg,omitempty"` // /proc/loadavg at the start
	Network  string `json:"network"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// ErrHistory is returned (wrapped) when a phase of the history run fails.
var ErrHistory = errors.New("bench history")

// RunHistory builds the history and measures it. On an error after some
// figures were measured it returns them with the error.
func RunHistory(ctx context.Context, o HistoryOptions) (*HistoryResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	say := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		o.Logger.Info(msg)
		if o.Progress != nil {
			o.Progress(msg)
		}
	}
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "waterchain-history-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: Dir: %s is not empty; give a new or empty directory", ErrOptions, dir)
	}
	res := &HistoryResult{
		Validators: o.Validators, ReadingsPerBlock: o.Readings, Meters: o.Meters,
		IntervalS: o.Interval.Seconds(), Targets: IssueTargets, Conditions: historyConditions(o),
	}

	hn, err := writeHistoryNetwork(filepath.Join(dir, "net"), o)
	if err != nil {
		return nil, fmt.Errorf("%w: writing the network: %w", ErrHistory, err)
	}
	say("network written in %s: %d validators, 1 auditor, %d meters; building %d data blocks (%d with %d readings), a tx block every %d",
		hn.nw.Dir, o.Validators, o.Meters, o.Blocks, o.FullBlocks, o.Readings, o.TxEvery)
	if err := buildHistory(ctx, hn, o, res, say); err != nil {
		return nil, fmt.Errorf("%w: building: %w", ErrHistory, err)
	}
	say("built %d blocks (%d readings) in %.1fs: %.0f blocks/s; %d bytes on disk compacted (%d as written), %.0f B per empty block, %.0f B per reading (encoded %.0f B)",
		res.Blocks, res.Readings, res.BuildS, res.BuildBlocksPerS, res.DiskBytes, res.DiskBytesLive, res.DiskBytesPerEmptyBlock, res.DiskBytesPerReading, res.ReadingEncodedBytes)
	if err := hn.copyStore(); err != nil {
		return nil, fmt.Errorf("%w: copying the store: %w", ErrHistory, err)
	}

	if res.BatchVerifyPerS, err = verifyrate.Batch(ctx, o.VerifyDuration); err != nil {
		return res, fmt.Errorf("%w: batch verify rate: %w", ErrHistory, err)
	}
	if res.VerifyPerS, err = verifyrate.Ed25519(ctx, o.VerifyDuration); err != nil {
		return res, fmt.Errorf("%w: verify rate: %w", ErrHistory, err)
	}
	say("this machine verifies %.0f signatures/s in batches, %.0f/s one by one (all cores)", res.BatchVerifyPerS, res.VerifyPerS)

	// The restart and the catch-up first, the audit last (over the
	// history and the blocks the running network added to it): on a
	// long history the audit is the longest phase, and AuditTimeout may
	// cut it.
	if err := hn.measureStarts(ctx, o, res, say); err != nil {
		hn.stopAll()
		return res, fmt.Errorf("%w: %w", ErrHistory, err)
	}
	if err := hn.measureCatchup(ctx, o, res, say); err != nil {
		hn.stopAll()
		return res, fmt.Errorf("%w: catch-up: %w", ErrHistory, err)
	}
	hn.stopAll()
	// The batch-verify rate again, with the nodes stopped: the higher of
	// the two counts. The first follows the build and the copy of the
	// store, whose writes the kernel may still be flushing; on this
	// project's machine single counts ranged from 83,800 to 115,800/s
	// over twenty runs one night (docs/performance-log.md,
	// "What a catching-up node holds").
	if again, err := verifyrate.Batch(ctx, o.VerifyDuration); err == nil && again > res.BatchVerifyPerS {
		say("this machine verifies %.0f signatures/s in batches after the catch-up (%.0f/s before); the ratio is to the higher", again, res.BatchVerifyPerS)
		res.BatchVerifyPerS = again
	}
	if res.BatchVerifyPerS > 0 {
		res.CatchupReadingsVerifyRatio = res.CatchupFullReadingsPerS / res.BatchVerifyPerS
	}

	actx := ctx
	if o.AuditTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, o.AuditTimeout)
		defer cancel()
	}
	took, blocks, err := hn.auditVerify(actx, hn.nw.Nodes[0].Home, uint64(res.DataBlocks), uint64(res.TxBlocks))
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("cut after --audit-timeout %s: %w", o.AuditTimeout, err)
		}
		return res, fmt.Errorf("%w: audit verify: %w", ErrHistory, err)
	}
	res.AuditVerifyS = took.Seconds()
	res.AuditVerifyBlocksPerS = float64(blocks) / took.Seconds()
	say("audit verify of validator-1's store (%d blocks): %.1fs (%.0f blocks/s)", blocks, res.AuditVerifyS, res.AuditVerifyBlocksPerS)
	return res, nil
}

func historyConditions(o HistoryOptions) HistoryConditions {
	c := HistoryConditions{
		Cores: runtime.GOMAXPROCS(0), CPUs: runtime.NumCPU(),
		Network:  fmt.Sprintf("%d validators and 1 auditor as separate `waterchain run` processes, libp2p over loopback TCP, genesis.DefaultParams", o.Validators),
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) >= 3 {
			c.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return c
}

// since is the seconds from start, for the figures.
func historySince(start time.Time) float64 { return time.Since(start).Seconds() }
