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
