package store_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// filledDevices is the number of meters of BenchmarkCommitFilledBadger:
// each block carries one reading of filledBlockReadings of them, so that
// a block's index keys are spread over the key space as a large network's
// are.
const (
	filledDevices       = 20_000
	filledBlockReadings = 1_000
	filledGroup         = 8   // blocks per CommitBlocks, as block sync writes
	filledFill          = 120 // blocks committed before the timer starts
)

// readingFeed makes data blocks of perBlock readings, dealt round-robin
// among its devices, each continuing its sequence (every reading in
// order), step milliseconds apart, with a state change per reading. The
// readings carry a fixed signature: the store does not verify them, and
// signing would dominate the setup.
type readingFeed struct {
	devices  []chain.PubKey
	seq      []uint64
	next     int
	now      chain.Time
	perBlock int
	step     chain.Time
}

func newReadingFeed(devices, perBlock int, step chain.Time) *readingFeed {
	f := &readingFeed{devices: make([]chain.PubKey, devices), seq: make([]uint64, devices), now: baseTime, perBlock: perBlock, step: step}
	for i := range f.devices {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		f.devices[i] = chain.PubKey(sha256.Sum256(b[:]))
	}
	return f
}

// newFilledFeed is BenchmarkCommitFilledBadger's feed.
func newFilledFeed() *readingFeed { return newReadingFeed(filledDevices, filledBlockReadings, 5000) }

func (f *readingFeed) block() ([]*chain.Reading, []store.Change) {
	out := make([]*chain.Reading, f.perBlock)
	changes := make([]store.Change, 0, f.perBlock)
	f.now += f.step
	for i := range out {
		d := f.next % len(f.devices)
		f.next++
		f.seq[d]++
		r := &chain.Reading{
			Device: f.devices[d], Seq: f.seq[d], Time: f.now - chain.Time(i),
			FlowRate: 12_500_000, Volume: 12_500_000 + int64(f.seq[d]), VolumeTotal: 900_000_000 + int64(f.seq[d])*12_500_000,
			Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
		}
		sig := sha256.Sum256(r.SigningBytes())
		r.Sig = append(sig[:], sig[:]...)
		out[i] = r
		changes = append(changes, store.Change{Key: append([]byte("d/device/"), f.devices[d][:]...), Value: make([]byte, 40)})
	}
	return out, changes
}

func (f *readingFeed) groups(c *testChain, n, size int) [][]store.BlockCommit {
	out := make([][]store.BlockCommit, n)
	for i := range out {
		out[i] = make([]store.BlockCommit, size)
		for j := range out[i] {
			readings, changes := f.block()
			blk := c.next(chain.LaneData, readings, nil)
			c.advance(blk)
			out[i][j] = store.BlockCommit{Block: blk, Changes: changes}
		}
	}
	return out
}

// BenchmarkCommitFilledBadger commits data blocks of 1,000 readings of
// 20,000 devices to badger with the production options into a store that
// already holds filledFill such blocks, so that badger's memtable is about
// as full as a running node's on average (the cost of a skiplist insert
// grows with it): blocks=1 one block per Commit, as a validator commits
// (one transaction and one fsync per block); blocks=8 eight per
// CommitBlocks, as block sync writes. ns/reading and cpu-ns/reading are
// the time and the process's CPU (badger's goroutines included) per
// reading; the CPU figure is the one a loaded machine disturbs less.
func BenchmarkCommitFilledBadger(b *testing.B) {
	for _, group := range []int{1, 8} {
		b.Run(fmt.Sprintf("blocks=%d", group), func(b *testing.B) {
			s := openStore(b, openBadgerIn(b, b.TempDir()))
			c := newTestChain(b)
			feed := newFilledFeed()
			for _, g := range feed.groups(c, filledFill/8, 8) {
				if err := s.CommitBlocks(g); err != nil {
					b.Fatal(err)
				}
			}
			groups := feed.groups(c, b.N, group)
			b.ReportAllocs()
			cpu := commitTimed(b, s, groups)
			n := float64(b.N * group * filledBlockReadings)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/reading")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/reading")
		})
	}
}
