package store_test

import (
	"crypto/sha256"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// BenchmarkReadingsUpTo reads time ranges of a device with a long history
// (100,000 readings, one a minute, among those of 3 other devices) from
// badger with the production options: the day that ended an hour before
// its last reading (settlement of the period just ended), an hour and a
// day in the middle of its history, as ReadingsUpTo answers them (ns/op
// includes reading the readings, 60 an hour); and a millisecond between
// two readings an hour before the last and in the middle, where ns/op is
// the index's part alone. The history is read from badger's tables (the
// store is closed and reopened after it is written).
func BenchmarkReadingsUpTo(b *testing.B) {
	const (
		readings = 100_000
		devices  = 4
		perBlock = 1_000
		minute   = chain.Time(60_000)
	)
	dir := b.TempDir()
	kv := openBadgerIn(b, dir)
	s := openStore(b, kv)
	c := newTestChain(b)
	devs := make([]chain.PubKey, devices)
	for i := range devs {
		devs[i] = chain.PubKey(sha256.Sum256([]byte{byte(i)}))
	}
	dev := devs[0]
	var (
		group []store.BlockCommit
		rs    []*chain.Reading
		now   = baseTime
	)
	for seq := uint64(1); seq <= readings; seq++ {
		now += minute
		for i, d := range devs {
			r := &chain.Reading{Device: d, Seq: seq, Time: now + chain.Time(i), FlowRate: 12_500_000, Volume: int64(seq)}
			sig := sha256.Sum256(r.SigningBytes())
			r.Sig = append(sig[:], sig[:]...)
			rs = append(rs, r)
			if len(rs) == perBlock {
				blk := c.next(chain.LaneData, rs, nil)
				c.advance(blk)
				group = append(group, store.BlockCommit{Block: blk})
				rs = nil
			}
		}
		if len(group) == 8 || seq == readings {
			if err := s.CommitBlocks(group); err != nil {
				b.Fatal(err)
			}
			group = group[:0]
		}
	}
	// A long history is in badger's tables, not its memtable: closing
	// flushes it.
	closeKV(b, kv)
	s = openStore(b, openBadgerIn(b, dir))
	end := now
	mid := baseTime + chain.Time(readings/2)*minute
	for _, q := range []struct {
		name     string
		from, to chain.Time
		want     int
	}{
		{"last-day", end - 25*60*minute, end - 60*minute, 1440},
		{"middle-hour", mid, mid + 60*minute, 60},
		{"middle-day", mid, mid + 24*60*minute, 1440},
		// Between two readings: the index's part alone.
		{"last-none", end - 60*minute + 1, end - 60*minute + 2, 0},
		{"middle-none", mid + 1, mid + 2, 0},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				if err := s.ReadingsUpTo(dev, q.from, q.to, ^uint64(0), func(*chain.Reading) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				if n != q.want {
					b.Fatalf("%d readings, want %d", n, q.want)
				}
			}
		})
	}
}

// BenchmarkReadingByHash looks readings up by hash in a store of 100,000
// readings (100 blocks of BenchmarkCommitFilledBadger's feed) read from
// badger's tables, each lookup a different reading.
func BenchmarkReadingByHash(b *testing.B) {
	dir := b.TempDir()
	kv := openBadgerIn(b, dir)
	s := openStore(b, kv)
	c := newTestChain(b)
	feed := newFilledFeed()
	var hashes []chain.Hash
	for _, g := range feed.groups(c, 100/8+1, 8) {
		for _, bc := range g {
			for _, r := range bc.Block.Readings {
				hashes = append(hashes, r.Hash())
			}
		}
		if err := s.CommitBlocks(g); err != nil {
			b.Fatal(err)
		}
	}
	closeKV(b, kv)
	s = openStore(b, openBadgerIn(b, dir))
	i := 0
	for b.Loop() {
		h := hashes[(i*7919)%len(hashes)]
		i++
		if r, _, err := s.ReadingByHash(h); err != nil || r.Hash() != h {
			b.Fatalf("%v, %v", r, err)
		}
	}
}
