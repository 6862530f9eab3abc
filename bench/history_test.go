package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/store/kvtest"
	"github.com/waterchain/waterchain/node/api"
)

func TestHistoryOptionsValidate(t *testing.T) {
	valid := HistoryOptions{Binary: "waterchain", Blocks: 1000, FullBlocks: 100, Readings: 10}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*HistoryOptions)
		field  string
	}{
		{"no binary", func(o *HistoryOptions) { o.Binary = "" }, "Binary"},
		{"negative blocks", func(o *HistoryOptions) { o.Blocks = -1 }, "Blocks"},
		{"too many blocks", func(o *HistoryOptions) { o.Blocks = MaxHistoryBlocks + 1 }, "Blocks"},
		{"more full blocks than blocks", func(o *HistoryOptions) { o.FullBlocks = 1001 }, "FullBlocks"},
		{"too many readings", func(o *HistoryOptions) { o.Readings = MaxHistoryReadings + 1 }, "Readings"},
		{"fewer meters than readings", func(o *HistoryOptions) { o.Meters = 4 }, "Meters"},
		{"tx every", func(o *HistoryOptions) { o.TxEvery = -2 }, "TxEvery"},
		{"interval", func(o *HistoryOptions) { o.Interval = time.Millisecond }, "Interval"},
		{"validators", func(o *HistoryOptions) { o.Validators = MaxValidators + 1 }, "Validators"},
		{"catch-up timeout", func(o *HistoryOptions) { o.CatchupTimeout = time.Millisecond }, "CatchupTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.mutate(&o)
			err := o.Validate()
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("got %v, want ErrOptions naming %s", err, tc.field)
			}
		})
	}
}

// TestGroupKV holds the grouping KV the history is built through to the
// contract of every store.KV.
func TestGroupKV(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) store.KV {
		g := newGroupKV(store.NewMemory())
		t.Cleanup(func() { _ = g.Close() })
		return g
	})
}

// TestGroupKVGroups checks that writes reach the KV below only in groups,
// and that Get sees them before.
func TestGroupKVGroups(t *testing.T) {
	mem := store.NewMemory()
	g := newGroupKV(mem)
	b := g.NewBatch()
	b.Set([]byte("a"), []byte("1"))
	b.Set([]byte("b"), []byte("2"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	b = g.NewBatch()
	b.Delete([]byte("b"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if mem.Len() != 0 {
		t.Fatalf("the KV below holds %d keys before a flush, want 0", mem.Len())
	}
	if v, err := g.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v; want 1 from the group", v, err)
	}
	if _, err := g.Get([]byte("b")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(b) after its delete: %v, want ErrNotFound", err)
	}
	var keys []string
	if err := g.Iterate(nil, store.IterOptions{}, func(k, _ []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a" || mem.Len() != 1 {
		t.Fatalf("Iterate saw %v and the KV below holds %d keys; want [a] and 1 (flushed first)", keys, mem.Len())
	}
}

// TestCatchupRates works the catch-up figures of a sampled sync by hand:
// 100 data blocks (the last 20 with 10 readings each), a tx block after
// each.
func TestCatchupRates(t *testing.T) {
	o := HistoryOptions{Blocks: 100, FullBlocks: 20, Readings: 10}
	samples := []catchupSample{
		{t: 0.5}, {t: 1.0}, // starting: nothing yet
		{t: 2.0, data: 40, tx: 40},
		{t: 3.0, data: 80, tx: 80}, // the empty part is done
		{t: 5.0, data: 100, tx: 100},
	}
	var res HistoryResult
	catchupRates(samples, o, &res)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"catchup_s", res.CatchupS, 5},
		{"catchup_blocks", float64(res.CatchupBlocks), 200},
		{"catchup_blocks_per_s", res.CatchupBlocksPerS, 200.0 / 4},     // from t=1
		{"catchup_readings_per_s", res.CatchupReadingsPerS, 200.0 / 4}, // 20 blocks × 10
		{"catchup_empty_blocks_per_s", res.CatchupEmptyBlocksPerS, 160.0 / 2},
		{"catchup_full_blocks_per_s", res.CatchupFullBlocksPerS, 40.0 / 2},
		{"catchup_full_readings_per_s", res.CatchupFullReadingsPerS, 200.0 / 2},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// A sample that jumps over the last empty block: the full part is
	// counted from the sample before it.
	jump := []catchupSample{{t: 1.0}, {t: 2.0, data: 40, tx: 40}, {t: 4.0, data: 100, tx: 100}}
	res = HistoryResult{}
	catchupRates(jump, o, &res)
	if res.CatchupEmptyBlocksPerS != 200.0/3 || res.CatchupFullReadingsPerS != 200.0/2 || res.CatchupFullBlocksPerS != 120.0/2 {
		t.Errorf("over a jump: empty %v blocks/s, full %v readings/s and %v blocks/s; want %v, %v, %v",
			res.CatchupEmptyBlocksPerS, res.CatchupFullReadingsPerS, res.CatchupFullBlocksPerS, 200.0/3, 200.0/2, 120.0/2)
	}
}

// The readings of the full part per CPU-second of the auditor, from the
// CPU times of the samples that bound it; none when a bound's is unknown.
func TestCatchupReadingsPerCPU(t *testing.T) {
	o := HistoryOptions{Blocks: 100, FullBlocks: 20, Readings: 10}
	samples := []catchupSample{
		{t: 1.0, cpu: 0.2},
		{t: 2.0, data: 40, tx: 40, cpu: 1.0},
		{t: 3.0, data: 80, tx: 80, cpu: 1.5}, // the empty part is done
		{t: 5.0, data: 100, tx: 100, cpu: 2.3},
	}
	var res HistoryResult
	catchupRates(samples, o, &res)
	if math.Abs(res.CatchupFullCPUS-0.8) > 1e-9 || math.Abs(res.CatchupFullReadingsPerCPUS-200/0.8) > 1e-6 {
		t.Errorf("full part: %v CPU-s, %v readings per CPU-s; want 0.8 and %v", res.CatchupFullCPUS, res.CatchupFullReadingsPerCPUS, 200/0.8)
	}
	samples[2].cpu = -1
	res = HistoryResult{}
	catchupRates(samples, o, &res)
	if res.CatchupFullCPUS != 0 || res.CatchupFullReadingsPerCPUS != 0 {
		t.Errorf("with the CPU at the start of the full part unknown: %v CPU-s, %v readings per CPU-s; want none", res.CatchupFullCPUS, res.CatchupFullReadingsPerCPUS)
	}
}

// processCPU reads a process's CPU time, which grows as it works.
func TestProcessCPU(t *testing.T) {
	before, ok := processCPU(os.Getpid())
	if !ok {
		if runtime.GOOS == "linux" {
			t.Fatal("no CPU time read from /proc on Linux")
		}
		return
	}
	// Work until the CPU time moves (a tick is 10ms of CPU; a shared
	// machine may give little of it), within a deadline.
	x := uint64(1)
	after := before
	for deadline := time.Now().Add(time.Minute); after <= before && time.Now().Before(deadline); {
		for range 100_000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		after, _ = processCPU(os.Getpid())
	}
	if after <= before {
		t.Errorf("CPU time still %gs after a minute of work (x=%d)", after, x)
	}
	if _, ok := processCPU(-1); ok {
		t.Error("a CPU time for pid -1")
	}
}

// TestHistoryRun builds a 300-block history and runs every measurement on
// real node processes; it checks that every figure of the JSON line is
// there and sane (not how fast anything is).
func TestHistoryRun(t *testing.T) {
	bin := historyBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	o := HistoryOptions{
		Binary: bin, Blocks: 300, FullBlocks: 30, Readings: 20, Dir: t.TempDir(),
		VerifyDuration: 200 * time.Millisecond, CatchupTimeout: 4 * time.Minute, StartTimeout: 2 * time.Minute,
		Progress: func(msg string) { t.Log(msg) },
	}
	res, err := RunHistory(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{
		"data_blocks", "tx_blocks", "blocks", "readings", "disk_bytes", "disk_bytes_live", "disk_bytes_per_empty_block",
		"disk_bytes_per_reading", "reading_encoded_bytes", "disk_reading_ratio", "restart_api_s", "restart_vote_s",
		"first_start_api_s", "first_start_vote_s", "catchup_blocks_per_s", "catchup_readings_per_s",
		"catchup_empty_blocks_per_s", "catchup_full_readings_per_s", "batch_verify_per_s",
		"catchup_readings_verify_ratio", "audit_verify_s", "targets", "conditions",
	} {
		if _, ok := fields[k]; !ok {
			t.Errorf("the JSON lacks %q: %s", k, raw)
		}
	}
	if res.DataBlocks != 300 || res.TxBlocks != 300 || res.Blocks != 600 || res.FullBlocks != 30 || res.Readings != 600 {
		t.Errorf("history of %d data, %d tx (%d), %d full blocks, %d readings; want 300, 300 (600), 30, 600",
			res.DataBlocks, res.TxBlocks, res.Blocks, res.FullBlocks, res.Readings)
	}
	// An empty block takes more than its header and certificate and less
	// than a kilobyte-scale multiple of them; a reading at least its
	// encoding less what compression saves.
	if b := res.DiskBytesPerEmptyBlock; b < 100 || b > 20_000 {
		t.Errorf("disk bytes per empty block %.0f, want 100 to 20,000", b)
	}
	if r := res.DiskReadingRatio; r < 0.3 || r > 20 || res.ReadingEncodedBytes < 100 || res.ReadingEncodedBytes > 300 {
		t.Errorf("disk per reading %.0f B for %.0f encoded (ratio %.2f)", res.DiskBytesPerReading, res.ReadingEncodedBytes, r)
	}
	if res.DiskBytes <= res.DiskGenesisBytes || res.DiskBytesLive <= res.DiskGenesisBytes {
		t.Errorf("disk %d B at the end (%d before compaction), %d at genesis", res.DiskBytes, res.DiskBytesLive, res.DiskGenesisBytes)
	}
	for name, pair := range map[string][2]float64{
		"first start": {res.FirstStartAPIS, res.FirstStartVoteS},
		"restart":     {res.RestartAPIS, res.RestartVoteS},
	} {
		if pair[0] <= 0 || pair[1] < pair[0] {
			t.Errorf("%s: API after %vs, vote after %vs; want 0 < API ≤ vote", name, pair[0], pair[1])
		}
	}
	if !res.CatchupComplete || res.CatchupBlocks != 600 {
		t.Errorf("catch-up complete %v with %d blocks; want the 600 of the history", res.CatchupComplete, res.CatchupBlocks)
	}
	if res.CatchupBlocksPerS <= 0 || res.CatchupEmptyBlocksPerS <= 0 || res.CatchupFullReadingsPerS <= 0 || res.CatchupReadingsPerS <= 0 {
		t.Errorf("catch-up rates %+v; want all positive", res)
	}
	if res.BatchVerifyPerS <= 0 || res.VerifyPerS <= 0 || res.AuditVerifyS <= 0 {
		t.Errorf("batch verify %v/s, verify %v/s, audit %vs; want all positive", res.BatchVerifyPerS, res.VerifyPerS, res.AuditVerifyS)
	}
	if want := res.CatchupFullReadingsPerS / res.BatchVerifyPerS; math.Abs(res.CatchupReadingsVerifyRatio-want) > 1e-9 {
		t.Errorf("catchup_readings_verify_ratio %v, want %v", res.CatchupReadingsVerifyRatio, want)
	}
	if res.Targets != IssueTargets {
		t.Errorf("targets %+v, want the issue's %+v", res.Targets, IssueTargets)
	}
}

// historyBinary builds the waterchain binary once for the tests that run
// it as node processes.
func historyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the waterchain binary and runs node processes")
	}
	historyBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "waterchain-bench-test-")
		if err != nil {
			historyBin.err = err
			return
		}
		historyBin.path = filepath.Join(dir, "waterchain")
		if out, err := exec.Command("go", "build", "-o", historyBin.path, "github.com/waterchain/waterchain/cmd/waterchain").CombinedOutput(); err != nil {
			historyBin.err = fmt.Errorf("building waterchain: %v\n%s", err, out)
		}
	})
	if historyBin.err != nil {
		t.Fatal(historyBin.err)
	}
	return historyBin.path
}

var historyBin struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if historyBin.path != "" {
		os.RemoveAll(filepath.Dir(historyBin.path))
	}
	os.Exit(code)
}

// TestLongBehindCatchUp is issue 15's end-to-end test of catch-up over
// thousands of blocks, on node processes: three validators hold a
// history of 3,000 data and 3,000 tx blocks (the last 50 data blocks with
// 40 readings each), the fourth holds none of it (as one stopped since
// genesis) and an auditor starts after it. The fourth validator fetches
// the 6,000 blocks by block sync, verifying and re-executing each, and
// then votes: a data block final after the history carries its precommit,
// and its blocks at the history's last heights are the others'. The
// auditor's /v1/audit then reports every block of the history verified.
func TestLongBehindCatchUp(t *testing.T) {
	bin := historyBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	o := HistoryOptions{
		Binary: bin, Blocks: 3000, FullBlocks: 50, Readings: 40, Dir: t.TempDir(),
		CatchupTimeout: 3 * time.Minute, StartTimeout: 2 * time.Minute,
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o = o.withDefaults()
	hn, err := writeHistoryNetwork(filepath.Join(o.Dir, "net"), o)
	if err != nil {
		t.Fatal(err)
	}
	defer hn.stopAll()
	var res HistoryResult
	if err := buildHistory(ctx, hn, o, &res, t.Logf); err != nil {
		t.Fatal(err)
	}
	behind, auditor := o.Validators-1, len(hn.nw.Nodes)-1
	for i := 1; i < behind; i++ {
		if err := historyCopyDir(hn.dataDirs[0], hn.dataDirs[i]); err != nil {
			t.Fatal(err)
		}
	}
	wantData, wantTx := uint64(res.DataBlocks), uint64(res.TxBlocks)
	if wantData != 3000 || wantTx != 3000 {
		t.Fatalf("history of data/%d and tx/%d; want 3,000 each", wantData, wantTx)
	}

	for i := range behind {
		if _, err := hn.start(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range behind {
		if _, err := hn.procs[i].waitAPI(ctx, o.StartTimeout); err != nil {
			t.Fatal(err)
		}
	}
	f := hn.startFeeder(ctx)
	defer f.stop()
	if err := hn.procs[0].waitVote(ctx, hn.nodeKeys[0].Public(), wantData, o.StartTimeout); err != nil {
		t.Fatalf("three validators of four on the history: %v", err)
	}

	p, err := hn.start(behind)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.poll(ctx, 100*time.Millisecond, o.CatchupTimeout, "caught up", func() (bool, error) {
		st, err := p.status(ctx)
		if err != nil {
			return false, nil
		}
		return st.Lanes[chain.LaneData.String()].Height >= wantData && st.Lanes[chain.LaneTx.String()].Height >= wantTx, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s synced 6,000 blocks in %.1fs", p.name, time.Since(start).Seconds())
	if err := p.waitVote(ctx, hn.nodeKeys[behind].Public(), wantData, o.StartTimeout); err != nil {
		t.Fatalf("after its catch-up: %v", err)
	}
	top := [...]uint64{chain.LaneData: wantData, chain.LaneTx: wantTx}
	for _, lane := range chain.Lanes {
		h := strconv.FormatUint(top[lane], 10)
		var mine, theirs chain.Block
		if err := historyGetJSON(ctx, p.api+"/v1/blocks/"+lane.String()+"/"+h, &mine); err != nil {
			t.Fatal(err)
		}
		if err := historyGetJSON(ctx, hn.procs[0].api+"/v1/blocks/"+lane.String()+"/"+h, &theirs); err != nil {
			t.Fatal(err)
		}
		if mine.Hash() != theirs.Hash() {
			t.Errorf("%s/%s: %s holds %s, validator-1 %s", lane, h, p.name, mine.Hash().Short(), theirs.Hash().Short())
		}
	}

	a, err := hn.start(auditor)
	if err != nil {
		t.Fatal(err)
	}
	var audit api.AuditStatus
	err = a.poll(ctx, 200*time.Millisecond, o.CatchupTimeout, "verified the history", func() (bool, error) {
		if err := historyGetJSON(ctx, a.api+"/v1/audit", &audit); err != nil {
			return false, nil
		}
		return audit.OK && audit.Verified.Data >= wantData && audit.Verified.Tx >= wantTx, nil
	})
	if err != nil {
		t.Fatalf("%v (last /v1/audit: ok %v %q, verified data/%d tx/%d)", err, audit.OK, audit.Error, audit.Verified.Data, audit.Verified.Tx)
	}
	t.Logf("auditor verified data/%d tx/%d", audit.Verified.Data, audit.Verified.Tx)
}

// BenchmarkHistoryBuild builds a history of b.N data blocks (a tx block
// after each, the last tenth with 100 readings) into a fresh store: the
// build phase of waterchain bench history, without the nodes.
//
//	go test ./bench -run XXX -bench HistoryBuild -benchtime 20000x
func BenchmarkHistoryBuild(b *testing.B) {
	o := HistoryOptions{Binary: "waterchain", Blocks: b.N}.withDefaults()
	hn, err := writeHistoryNetwork(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	var res HistoryResult
	b.ResetTimer()
	if err := buildHistory(context.Background(), hn, o, &res, func(string, ...any) {}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.BuildBlocksPerS, "blocks/s")
	b.ReportMetric(0, "ns/op")
}
