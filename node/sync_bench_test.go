package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/bench/verifyrate"
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
	"github.com/waterchain/waterchain/node/keys"
)

// BenchmarkSyncEmptyBlocks is issue 15's catch-up figure for an idle
// chain: a fresh auditor syncs 10,000 empty blocks (5,000 per lane, four
// validators' certificates) over libp2p from two validators holding them,
// with full verification (header, certificate, state root). blocks/s
// counts both lanes.
//
//	go test ./node -run XXX -bench SyncEmptyBlocks -benchtime 1x
func BenchmarkSyncEmptyBlocks(b *testing.B) { benchSync(b, 10_000, 0) }

// BenchmarkSyncFullBlocks is the figure for blocks full of readings: 400
// blocks (200 data blocks of 1,000 readings from 1,000 meters, 200 empty
// tx blocks), next to the machine's batch-verify rate measured in the
// same run (chain.BatchVerifier on every core, bench/verifyrate, before
// the nodes start and after the sync; the higher counts). ratio is
// readings/s over that rate; the target is 0.5.
//
//	go test ./node -run XXX -bench SyncFullBlocks -benchtime 1x
func BenchmarkSyncFullBlocks(b *testing.B) { benchSync(b, 400, 250) }

// benchSync builds blocks blocks (half per lane; data blocks carrying one
// reading of each of 4×devicesPerIndustry meters) into two validators'
// stores, starts them, and for each iteration starts the network's
// auditor on an empty store and waits until it holds every block.
func benchSync(b *testing.B, blocks, devicesPerIndustry int) {
	batchRate, err := verifyrate.Batch(context.Background(), 2*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	nw, err := home.WriteNetwork(b.TempDir(), home.NetworkOptions{
		Validators: 4, Auditors: 1, DevicesPerIndustry: devicesPerIndustry,
		BasePort:    hometest.FreeBasePort(b, 5),
		GenesisTime: time.Now().Add(-10 * time.Minute).Truncate(time.Second),
	})
	if err != nil {
		b.Fatal(err)
	}
	readings := buildSyncChain(b, nw, blocks)
	tn := &testNet{t: b, nw: nw}
	defer tn.close()
	for i := 0; i < 2; i++ {
		tn.nodes = append(tn.nodes, tn.start(i))
	}
	auditor := len(nw.Nodes) - 1
	auditorData := dataDir(b, nw.Nodes[auditor].Home)
	// WATERCHAIN_SYNC_BENCH_CPUPROFILE=file profiles the syncs only (not
	// the build of the chain, as -cpuprofile would).
	if path := os.Getenv("WATERCHAIN_SYNC_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	b.ResetTimer()
	var elapsed, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := os.RemoveAll(auditorData); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		cpuStart := processCPU()
		n := tn.start(auditor)
		started := time.Since(start)
		if os.Getenv("WATERCHAIN_SYNC_BENCH_TRACE") != "" {
			b.Logf("auditor started in %s", started)
		}
		waitFor(b, 10*time.Minute, "the auditor to sync every block", func() bool {
			return n.Height(chain.LaneData)+n.Height(chain.LaneTx) >= uint64(blocks) || n.Err() != nil
		})
		elapsed += time.Since(start)
		cpu += processCPU() - cpuStart
		if err := n.Err(); err != nil {
			b.Fatalf("auditor stopped: %v", err)
		}
		b.StopTimer()
		n.Close()
		b.StartTimer()
	}
	b.StopTimer()
	// The batch-verify rate again, after the sync: the higher of the two
	// counts (the machine may be shared).
	if again, err := verifyrate.Batch(context.Background(), 2*time.Second); err == nil && again > batchRate {
		batchRate = again
	}
	secs := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(float64(blocks)/secs, "blocks/s")
	// The CPU the whole process spent meanwhile (the auditor, and the two
	// validators serving it): on a shared machine, the figure that does
	// not depend on the share the benchmark gets.
	b.ReportMetric(float64(blocks)*float64(b.N)/cpu.Seconds(), "blocks/cpu-s")
	if readings > 0 {
		b.ReportMetric(float64(readings)/secs, "readings/s")
		b.ReportMetric(batchRate, "batch-verify/s")
		b.ReportMetric(float64(readings)/secs/batchRate, "ratio")
	}
}

func dataDir(t testing.TB, dir string) string {
	t.Helper()
	h, err := home.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.IsAbs(cfg.Storage.DataDir) {
		return cfg.Storage.DataDir
	}
	return filepath.Join(h.Dir, cfg.Storage.DataDir)
}

// buildSyncChain writes a valid chain of blocks blocks, alternating the
// lanes, into the stores of validators 1 and 2 of nw: real certificates by
// the four validators' keys, readings signed by the generated meters,
// state roots from executing every block. It returns the number of
// readings. Blocks are 1 ms apart from a second after genesis, so the
// chain stays in the genesis settlement period and in the past.
func buildSyncChain(t testing.TB, nw *home.Network, blocks int) int {
	t.Helper()
	return buildSyncChainWith(t, nw, blocks, nil)
}

// buildSyncChainWith is buildSyncChain with fault, when not nil, changing
// reading k of data block h before it is signed (to raise alerts).
func buildSyncChainWith(t testing.TB, nw *home.Network, blocks int, fault func(h uint64, k int, r *chain.Reading)) int {
	t.Helper()
	g := nw.Genesis
	vkeys := map[chain.PubKey]*chain.PrivateKey{}
	for _, nn := range nw.Nodes {
		if nn.Role != genesis.RoleValidator {
			continue
		}
		k := nodeKey(t, nn.Home)
		vkeys[k.Public()] = k
	}
	devices := make([]*chain.PrivateKey, len(nw.Devices))
	for i, d := range nw.Devices {
		k, err := keys.Load(d.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		devices[i] = k
	}
	dir := dataDir(t, nw.Nodes[0].Home)
	kv, err := store.OpenBadger(dir, store.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(kv)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := g.State()
	if err != nil {
		t.Fatal(err)
	}
	genChanges, err := state.GenesisChanges(sg)
	if err != nil {
		t.Fatal(err)
	}
	genHash := g.Hash()
	if err := st.InitGenesis(genHash, toStoreChanges(genChanges)); err != nil {
		t.Fatal(err)
	}
	mem := state.NewCache()
	mem.Apply(genChanges)
	vs, err := state.ValidatorSetAt(mem, 0)
	if err != nil {
		t.Fatal(err)
	}
	var heads [3]*chain.Header
	var pending []store.BlockCommit
	flush := func() {
		if err := st.CommitBlocks(pending); err != nil {
			t.Fatal(err)
		}
		pending = pending[:0]
	}
	at := g.GenesisTime.Add(time.Second)
	readings := 0
	for i := 0; i < blocks; i++ {
		lane := chain.Lanes[i%2]
		at = at.Add(time.Millisecond)
		h := chain.Header{ChainID: g.ChainID, Lane: lane, Height: 1, Time: at, PrevHash: genHash, Anchor: chain.Anchor{Hash: genHash},
			ValidatorsHash: vs.Hash()}
		if p := heads[lane]; p != nil {
			h.Height, h.PrevHash = p.Height+1, p.Hash()
		}
		if o := heads[lane.Other()]; o != nil {
			h.Anchor = chain.Anchor{Height: o.Height, Hash: o.Hash()}
		}
		h.Proposer = vs.Proposer(h.Height, 0)
		blk := &chain.Block{Header: h}
		var changes []state.Change
		var root chain.Hash
		if lane == chain.LaneData {
			blk.Readings = make([]*chain.Reading, len(devices))
			for k, d := range devices {
				blk.Readings[k] = &chain.Reading{
					Device: d.Public(), Seq: h.Height, Time: at,
					FlowRate: 3_600_000, Volume: 60_000, VolumeTotal: int64(h.Height) * 60_000,
					Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 300,
				}
				if fault != nil {
					fault(h.Height, k, blk.Readings[k])
				}
			}
			signAll(g.ChainID, blk.Readings, devices)
			readings += len(blk.Readings)
			changes, root, err = state.ExecuteDataBlock(mem, &blk.Header, blk.Readings)
		} else {
			changes, root, err = state.ExecuteTxBlock(mem, readingSource{st}, sg, &blk.Header, nil)
		}
		if err != nil {
			t.Fatalf("building %s/%d: %v", lane, h.Height, err)
		}
		blk.Header.StateRoot = root
		blk.Header.NumEntries = uint32(blk.NumEntries())
		blk.Header.EntriesRoot = blk.ComputeEntriesRoot()
		var votes []*chain.Vote
		for _, pub := range vs.Keys() {
			v := &chain.Vote{Type: chain.Precommit, Lane: lane, Height: h.Height, BlockHash: blk.Hash(), Validator: pub}
			v.Sign(g.ChainID, vkeys[pub])
			votes = append(votes, v)
		}
		cert, err := chain.NewCertificate(vs, votes)
		if err != nil {
			t.Fatal(err)
		}
		blk = blk.WithCert(cert)
		mem.Apply(changes)
		hh := blk.Header
		heads[lane] = &hh
		pending = append(pending, store.BlockCommit{Block: blk, Changes: toStoreChanges(changes)})
		if len(pending) >= 256 || blk.NumEntries() > 0 {
			flush()
		}
	}
	flush()
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	// Validator 2 holds the same chain.
	to := dataDir(t, nw.Nodes[1].Home)
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", dir+"/.", to).CombinedOutput(); err != nil {
		t.Fatalf("copying the store: %v: %s", err, out)
	}
	return readings
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// signAll signs rs[i] with keys[i] on every core.
func signAll(chainID string, rs []*chain.Reading, keys []*chain.PrivateKey) {
	done := make(chan struct{})
	const workers = 4
	for w := 0; w < workers; w++ {
		go func() {
			for i := w; i < len(rs); i += workers {
				rs[i].Sign(chainID, keys[i])
			}
			done <- struct{}{}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
}
