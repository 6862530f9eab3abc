package store_test

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

const (
	benchDevices   = 100
	benchPerDevice = 10 // readings per device per block: 1,000 a block
)

// benchFeed makes the readings of consecutive blocks: each device's
// readings continue its sequence, one per second.
type benchFeed struct {
	keys  []*chain.PrivateKey
	block uint64
}

func newBenchFeed(b *testing.B) *benchFeed {
	f := &benchFeed{}
	for i := 0; i < benchDevices; i++ {
		f.keys = append(f.keys, key(b, fmt.Sprintf("bench-device-%d", i)))
	}
	return f
}

func (f *benchFeed) next() ([]*chain.Reading, []store.Change) {
	out := make([]*chain.Reading, benchDevices*benchPerDevice)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(out); i += workers {
				seq := f.block*benchPerDevice + uint64(i/benchDevices) + 1
				out[i] = reading(f.keys[i%benchDevices], seq, baseTime+chain.Time(seq)*1000)
			}
		}()
	}
	wg.Wait()
	f.block++
	changes := make([]store.Change, benchDevices)
	for i, k := range f.keys {
		pub := k.Public()
		changes[i] = store.Change{Key: append([]byte("d/device/"), pub[:]...), Value: make([]byte, 40)}
	}
	return out, changes
}

func benchmarkCommit(b *testing.B, kv store.KV) {
	s := openStore(b, kv)
	c := newTestChain(b)
	feed := newBenchFeed(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // signing and certifying are not the store's work
		readings, changes := feed.next()
		blk := c.next(chain.LaneData, readings, nil)
		b.StartTimer()
		if err := s.Commit(blk, changes); err != nil {
			b.Fatal(err)
		}
		c.advance(blk)
	}
	b.ReportMetric(float64(b.N*benchDevices*benchPerDevice)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkCommitBadger commits blocks of 1,000 readings (100 devices) with
// a state change per device to badger with the production options: one
// synced transaction per block.
func BenchmarkCommitBadger(b *testing.B) {
	benchmarkCommit(b, openBadgerIn(b, b.TempDir()))
}

func BenchmarkCommitMemory(b *testing.B) {
	kv := store.NewMemory()
	b.Cleanup(func() { kv.Close() })
	benchmarkCommit(b, kv)
}

// BenchmarkReadingLookup reads one reading by device and sequence from a
// badger store of 20 blocks of 1,000 readings.
func BenchmarkReadingLookup(b *testing.B) {
	s := openStore(b, openBadgerIn(b, b.TempDir()))
	c := newTestChain(b)
	feed := newBenchFeed(b)
	for i := 0; i < 20; i++ {
		readings, changes := feed.next()
		c.commit(s, chain.LaneData, readings, nil, changes...)
	}
	dev := feed.keys[7].Public()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seq := uint64(i%(20*benchPerDevice)) + 1
		if _, _, err := s.Reading(dev, seq); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitBlocksBadger commits data blocks of 1,000 readings to
// badger as block sync does, commitBlocksGroup blocks per CommitBlocks
// (one transaction and one fsync for all), so that badger's work per key
// shows rather than the fsync. The blocks are built and signed first;
// readings/cpu-s counts the process's CPU time over the commits (badger's
// goroutines included), which a loaded machine disturbs less than the
// wall time.
func BenchmarkCommitBlocksBadger(b *testing.B) {
	const commitBlocksGroup = 8
	s := openStore(b, openBadgerIn(b, b.TempDir()))
	c := newTestChain(b)
	feed := newBenchFeed(b)
	groups := make([][]store.BlockCommit, b.N)
	for i := range groups {
		groups[i] = make([]store.BlockCommit, commitBlocksGroup)
		for j := range groups[i] {
			readings, changes := feed.next()
			blk := c.next(chain.LaneData, readings, nil)
			c.advance(blk)
			groups[i][j] = store.BlockCommit{Block: blk, Changes: changes}
		}
	}
	cpu := commitTimed(b, s, groups)
	n := float64(b.N * commitBlocksGroup * benchDevices * benchPerDevice)
	b.ReportMetric(n/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(n/cpu.Seconds(), "readings/cpu-s")
}

// commitTimed writes groups, one CommitBlocks each, as the timed part of
// a benchmark, and returns the process CPU (badger's goroutines included)
// they took.
func commitTimed(b *testing.B, s *store.Store, groups [][]store.BlockCommit) time.Duration {
	b.Helper()
	runtime.GC()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for _, g := range groups {
		if err := s.CommitBlocks(g); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	return processCPU(b) - cpu0
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
