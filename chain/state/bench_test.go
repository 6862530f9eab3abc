package state

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// BenchmarkExecuteDataBlock executes one data block of 1,000 readings from
// 100 devices (10 each) over a MemStore holding the genesis state with the
// 100 devices registered. Signatures are not part of it: the caller
// verifies them before.
func BenchmarkExecuteDataBlock(b *testing.B) {
	g := testGenesis()
	var devs []*chain.PrivateKey
	for i := 0; i < 100; i++ {
		k := key(fmt.Sprintf("bench-meter-%d", i))
		devs = append(devs, k)
		ind := &g.Industries[i%len(g.Industries)]
		ind.Devices = append(ind.Devices, GenesisDevice{Key: k.Public()})
	}
	f := newFixtureWith(b, g)
	blockTime := at(time.Hour)
	readings := make([]*chain.Reading, 0, 1000)
	for s := 1; s <= 10; s++ {
		for _, k := range devs {
			rd := &chain.Reading{Device: k.Public(), Seq: uint64(s), Time: blockTime.Add(time.Duration(s-10) * time.Second), Volume: 1000, Conductivity: 100}
			rd.Sign(g.ChainID, k)
			readings = append(readings, rd)
		}
	}
	h := &chain.Header{ChainID: g.ChainID, Lane: chain.LaneData, Height: 1, Time: blockTime, Anchor: chain.Anchor{Hash: someHash}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		changes, _, err := ExecuteDataBlock(f.store, h, readings)
		if err != nil {
			b.Fatal(err)
		}
		if len(changes) != 101 {
			b.Fatalf("%d changes", len(changes))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/reading")
}

// BenchmarkReadingCycle is what the state costs each reading on a node:
// checked at the door (ReadingChecker, in gossip-sized batches), executed
// in a block (ExecuteDataBlock) and the block's changes applied to the
// committed Cache, with blocks of 1,000 readings from 1,000 devices (one
// each, so every device's data record changed since its last reading, as
// on the bench's network).
func BenchmarkReadingCycle(b *testing.B) {
	const devices = 1000
	g := testGenesis()
	var devs []*chain.PrivateKey
	for i := range devices {
		k := key(fmt.Sprintf("cycle-meter-%d", i))
		devs = append(devs, k)
		ind := &g.Industries[i%len(g.Industries)]
		ind.Devices = append(ind.Devices, GenesisDevice{Key: k.Public()})
	}
	changes, err := GenesisChanges(g)
	if err != nil {
		b.Fatal(err)
	}
	c := NewCache()
	c.Apply(changes)
	const blocks = 8 // unsigned: the state does not look at signatures
	readings := make([][]*chain.Reading, blocks)
	blockTime := func(height int) chain.Time { return at(time.Hour + time.Duration(height)*time.Second) }
	for s := range blocks {
		for _, k := range devs {
			rd := &chain.Reading{Device: k.Public(), Time: blockTime(s), Volume: 1000, Conductivity: 100, Sig: make([]byte, 64)}
			readings[s] = append(readings[s], rd)
		}
	}
	height := 0
	b.ReportAllocs()
	cpu0, cpuKnown := processCPU()
	for b.Loop() {
		rs := readings[height%blocks]
		height++
		for _, rd := range rs {
			rd.Seq, rd.Time = uint64(height), blockTime(height)
		}
		for from := 0; from < len(rs); from += 100 {
			chk, err := NewReadingChecker(c, 0, blockTime(height))
			if err != nil {
				b.Fatal(err)
			}
			for _, rd := range rs[from : from+100] {
				if err := chk.Check(rd); err != nil {
					b.Fatal(err)
				}
			}
		}
		h := &chain.Header{ChainID: g.ChainID, Lane: chain.LaneData, Height: uint64(height), Time: blockTime(height), Anchor: chain.Anchor{Hash: someHash}}
		changes, _, err := ExecuteDataBlock(c, h, rs)
		if err != nil {
			b.Fatal(err)
		}
		c.Apply(changes)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/devices, "ns/reading")
	if cpu1, ok := processCPU(); ok && cpuKnown {
		// All the process's threads, the garbage collector's included.
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N)/devices, "cpu-ns/reading")
	}
}

// dataBench is the data lane of a node at the bench's size: a Cache with
// the genesis state, benchDevices meters registered and each with a data
// record (one reading recorded), and blocks of benchPerBlock readings, one
// from each of benchPerBlock meters, the meters taken in turn.
type dataBench struct {
	g        *Genesis
	c        *Cache
	devs     []chain.PubKey
	height   uint64     // of the last data block applied to c
	time     chain.Time // of that block
	readings []*chain.Reading
}

const benchDevices, benchPerBlock = 4000, 25

func newDataBench(b *testing.B) *dataBench {
	b.Helper()
	g := testGenesis()
	d := &dataBench{g: g, c: NewCache(), time: at(time.Hour)}
	for i := range benchDevices {
		k := key(fmt.Sprintf("node-meter-%d", i)).Public()
		d.devs = append(d.devs, k)
		ind := &g.Industries[i%len(g.Industries)]
		ind.Devices = append(ind.Devices, GenesisDevice{Key: k})
	}
	changes, err := GenesisChanges(g)
	if err != nil {
		b.Fatal(err)
	}
	d.c.Apply(changes)
	first := make([]*chain.Reading, benchDevices)
	for i, k := range d.devs {
		first[i] = &chain.Reading{Device: k, Seq: 1, Time: d.time, Volume: 1000, Conductivity: 100, Sig: make([]byte, 64)}
	}
	changes, _, err = ExecuteDataBlock(d.c, d.header(1, d.time), first)
	if err != nil {
		b.Fatal(err)
	}
	d.c.Apply(changes)
	d.height = 1
	d.readings = make([]*chain.Reading, benchPerBlock)
	for i := range d.readings {
		d.readings[i] = &chain.Reading{Volume: 1000, Conductivity: 100, Sig: make([]byte, 64)}
	}
	return d
}

func (d *dataBench) header(height uint64, t chain.Time) *chain.Header {
	return &chain.Header{ChainID: d.g.ChainID, Lane: chain.LaneData, Height: height, Time: t, Anchor: chain.Anchor{Hash: someHash}}
}

// block fills d.readings with the n-th block's readings over committed
// state in which every meter has recorded seq readings, timed t: the
// n-th run of benchPerBlock meters, each with its next reading.
func (d *dataBench) block(n int, seq uint64, t chain.Time) []*chain.Reading {
	from := n * benchPerBlock % benchDevices
	for i, rd := range d.readings {
		rd.Device, rd.Seq, rd.Time = d.devs[from+i], seq+1, t
	}
	return d.readings
}

// BenchmarkDataBlock is a data block of 25 readings from 25 of 4,000
// meters (the bench's network at 500 readings/s) over a node's Cache:
// its readings checked at the door (check), the block built by its
// proposer (build), executed (execute) or verified (verify) by the other
// validators — each over the same committed state, the meters taken in
// turn so that no block's root is in the cache's patch memo — and all of
// a validator's work a block (cycle: the readings checked, the block
// executed, its changes applied to the cache, which then holds the next
// state).
func BenchmarkDataBlock(b *testing.B) {
	b.Run("check", func(b *testing.B) {
		d := newDataBench(b)
		t := d.time + 1000
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			chk, err := NewReadingChecker(d.c, 0, t)
			if err != nil {
				b.Fatal(err)
			}
			for _, rd := range d.block(n, 1, t) {
				if err := chk.Check(rd); err != nil {
					b.Fatal(err)
				}
			}
			n++
		}
	})
	for _, mode := range []string{"build", "execute", "verify"} {
		b.Run(mode, func(b *testing.B) {
			d := newDataBench(b)
			t := d.time + 1000
			h := d.header(d.height+1, t)
			blk := &chain.Block{Header: *h}
			roots := make([]chain.Hash, benchDevices/benchPerBlock)
			for n := range roots {
				_, root, err := ExecuteDataBlock(d.c, h, d.block(n, 1, t))
				if err != nil {
					b.Fatal(err)
				}
				roots[n] = root
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				readings := d.block(n, 1, t)
				var err error
				switch mode {
				case "build":
					var bld *DataBuilder
					if bld, err = NewDataBuilder(d.c, h); err != nil {
						b.Fatal(err)
					}
					for _, rd := range readings {
						if err := bld.Add(rd); err != nil {
							b.Fatal(err)
						}
					}
					_, _, err = bld.Finish()
				case "execute":
					_, _, err = ExecuteDataBlock(d.c, h, readings)
				case "verify":
					blk.Header.StateRoot, blk.Readings = roots[n%len(roots)], readings
					_, err = VerifyDataBlock(d.c, blk)
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
	}
	b.Run("cycle", func(b *testing.B) {
		d := newDataBench(b)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			t := d.time + 1000
			seq := uint64(1 + n/(benchDevices/benchPerBlock))
			readings := d.block(n, seq, t)
			chk, err := NewReadingChecker(d.c, 0, t)
			if err != nil {
				b.Fatal(err)
			}
			for _, rd := range readings {
				if err := chk.Check(rd); err != nil {
					b.Fatal(err)
				}
			}
			h := d.header(d.height+1, t)
			changes, _, err := ExecuteDataBlock(d.c, h, readings)
			if err != nil {
				b.Fatal(err)
			}
			d.c.Apply(changes)
			d.height, d.time = h.Height, t
			n++
		}
	})
}

// BenchmarkRootTreePatch is the data lane's tree of 4,000 meters' records
// patched with a block's 25 updated records and its meta record, as
// Cache.PendingRoot does for each data block.
func BenchmarkRootTreePatch(b *testing.B) {
	const n, k = benchDevices + 1, benchPerBlock + 1
	rng := rand.New(rand.NewPCG(3, 4))
	leaves := make([]chain.Hash, n)
	for i := range leaves {
		leaves[i] = chain.HashBytes(binary.BigEndian.AppendUint64(nil, rng.Uint64()))
	}
	t := NewRootTree(leaves)
	edits := make([][]LeafEdit, n/k)
	for j := range edits {
		for i := range k {
			edits[j] = append(edits[j], LeafEdit{Pos: j + i*(n/k), Op: EditUpdate, Hash: chain.HashBytes([]byte{byte(i), byte(j)})})
		}
	}
	b.ReportAllocs()
	j := 0
	for b.Loop() {
		if _, err := t.Patch(edits[j%len(edits)]); err != nil {
			b.Fatal(err)
		}
		j++
	}
}
