package state

import (
	"fmt"
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
