package audit_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/waterchain/waterchain/bench/verifyrate"
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/audit/audittest"
	"github.com/waterchain/waterchain/node/report"
)

// benchOptions is the network of the throughput benchmark: 4 industries
// with 250 meters each, a reading a minute, hourly settlement.
var benchOptions = audittest.Options{
	ChainID: "waterchain-audit-bench", Industries: 4, DevicesPerIndustry: 250,
	SettlementPeriod: "1h", Allowance: 10_000_000,
}

// buildBenchStore fills the badger store in dir with a chain of about
// readings readings (one per meter per data block, a tx block every 50
// data blocks), unless dir already holds it. It returns the genesis.
func buildBenchStore(t testing.TB, dir string, readings int) (*chain.Hash, error) {
	g := audittest.Genesis(benchOptions)
	meters := benchOptions.Industries * benchOptions.DevicesPerIndustry
	blocks := (readings + meters - 1) / meters
	kv, err := store.OpenBadger(dir, store.BadgerOptions{Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer kv.Close()
	st, err := store.Open(kv)
	if err != nil {
		return nil, err
	}
	if st.Height(chain.LaneData) == uint64(blocks) {
		if err := st.CheckGenesis(g.Hash()); err != nil {
			return nil, err
		}
		t.Logf("reusing the store in %s: %d data blocks", dir, blocks)
		h := g.Hash()
		return &h, nil
	}
	if st.Height(chain.LaneData) != 0 {
		return nil, fmt.Errorf("%s holds a store of %d data blocks, want %d or none", dir, st.Height(chain.LaneData), blocks)
	}
	c, err := audittest.New(st, g)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for done := 0; done < blocks; done += 50 {
		if err := c.Scenario(min(50, blocks-done), 50); err != nil {
			return nil, err
		}
		if done%200 == 0 {
			t.Logf("built %d of %d data blocks (%s)", done, blocks, time.Since(start).Round(time.Second))
		}
	}
	t.Logf("built %d data blocks of %d readings in %s", blocks, meters, time.Since(start).Round(time.Second))
	h := g.Hash()
	return &h, nil
}

// rawVerifyRate measures crypto/ed25519.Verify per second on all cores.
func rawVerifyRate(t *testing.T, d time.Duration) float64 {
	rate, err := verifyrate.Ed25519(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return rate
}

// TestVerifyThroughput is the audit benchmark over a store of at least a
// million readings. It is off by default (it builds the store first, which
// takes minutes); run it with
//
//	WATERCHAIN_AUDIT_BENCH=1 go test -run TestVerifyThroughput -v -timeout 60m ./node/audit/
//
// WATERCHAIN_AUDIT_BENCH=N sets the readings (default 1,000,000);
// WATERCHAIN_AUDIT_BENCH_DIR=DIR keeps the store there between runs. It
// reports Verify's readings/s against crypto/ed25519.Verify/s on all cores
// measured before and after it in the same run.
func TestVerifyThroughput(t *testing.T) {
	env := os.Getenv("WATERCHAIN_AUDIT_BENCH")
	if env == "" {
		t.Skip("set WATERCHAIN_AUDIT_BENCH=1 to run the million-reading audit benchmark")
	}
	readings := 1_000_000
	if n, err := strconv.Atoi(env); err == nil && n > 1 {
		readings = n
	}
	dir := os.Getenv("WATERCHAIN_AUDIT_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if _, err := buildBenchStore(t, dir, readings); err != nil {
		t.Fatal(err)
	}
	g := audittest.Genesis(benchOptions)

	rawBefore := rawVerifyRate(t, 3*time.Second)
	kv, st := openBadger(t, dir, true)
	defer kv.Close()
	sum, err := audit.Verify(st, g, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rawAfter := rawVerifyRate(t, 3*time.Second)
	raw := (rawBefore + rawAfter) / 2
	rate := sum.ReadingsPerSecond()
	t.Log(sum)
	t.Logf("audit verify: %d readings in %s = %.0f readings/s; crypto/ed25519.Verify on %d cores: %.0f/s (before %.0f, after %.0f); ratio %.2f (target ≥ 0.80)",
		sum.Readings, sum.Elapsed.Round(time.Millisecond), rate, runtime.GOMAXPROCS(0), raw, rawBefore, rawAfter, rate/raw)
	if sum.Readings < uint64(readings) {
		t.Errorf("verified %d readings, want at least %d", sum.Readings, readings)
	}

	// The report of the last settled period replays the alert rules over
	// the data chain up to it: its cost is what GET /v1/reports pays.
	start := time.Now()
	rep, err := report.BuildReport(st, g, strconv.FormatInt(sum.SettledPeriods-1, 10))
	if err != nil {
		t.Fatal(err)
	}
	var inPeriod uint64
	for _, r := range rep.Rows {
		inPeriod += r.Readings
	}
	t.Logf("report of period %s (%d readings in it, data chain replayed to its end): %s", rep.Period, inPeriod, time.Since(start).Round(time.Millisecond))
}

// BenchmarkVerify audits a small store (20,000 readings) per iteration
// and reports readings/s; TestVerifyThroughput is the full-size run.
func BenchmarkVerify(b *testing.B) {
	kv := store.NewMemory()
	st, err := store.Open(kv)
	if err != nil {
		b.Fatal(err)
	}
	opts := benchOptions
	opts.DevicesPerIndustry = 50
	c, err := audittest.New(st, audittest.Genesis(opts))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Scenario(100, 20); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var readings uint64
	for i := 0; i < b.N; i++ {
		sum, err := audit.Verify(st, c.Genesis, audit.VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		readings += sum.Readings
	}
	b.ReportMetric(float64(readings)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkRawVerify is crypto/ed25519.Verify on one core, to compare.
func BenchmarkRawVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := []byte("reading")
	sig := ed25519.Sign(priv, msg)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("bad")
			}
		}
	})
}
