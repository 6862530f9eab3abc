package store_test

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// signedReadings returns devices×perDevice readings, signed by real device
// keys (in parallel: signing dominates). Maximal readings have every field
// at its longest encoding and an image hash.
func signedReadings(t testing.TB, devices, perDevice int, maximal bool) []*chain.Reading {
	t.Helper()
	keys := make([]*chain.PrivateKey, devices)
	for i := range keys {
		keys[i] = key(t, fmt.Sprintf("device-%d", i))
	}
	out := make([]*chain.Reading, devices*perDevice)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(out); i += workers {
				dev, n := keys[i%devices], uint64(i/devices)
				r := &chain.Reading{
					Device: dev.Public(), Seq: n + 1, Time: baseTime + chain.Time(n)*1000,
					FlowRate: 12_500_000, Volume: 12_500_000, VolumeTotal: 900_000_000,
					Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
				}
				if maximal {
					h := chain.HashBytes([]byte(fmt.Sprint("image ", i)))
					r.Seq += 1 << 40
					r.FlowRate, r.Volume, r.VolumeTotal = math.MinInt64, math.MaxInt64, math.MaxInt64
					r.Conductivity, r.SuspendedSolids, r.Absorbance, r.Turbidity = math.MaxInt64, math.MaxInt64, math.MinInt64, math.MaxInt64
					r.ImageHash = &h
				}
				r.Sign(testChainID, dev)
				out[i] = r
			}
		}()
	}
	wg.Wait()
	return out
}

// TestMaximalBlock commits a data block of chain.MaxBlockEntries readings
// of the largest encoding, with a state change per reading as if every
// reading came from another device, to badger with the production options:
// the whole block is one transaction.
func TestMaximalBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 50,000 readings")
	}
	kv := openBadgerIn(t, t.TempDir())
	s := openStore(t, kv)
	c := newTestChain(t)
	const devices = 500
	readings := signedReadings(t, devices, chain.MaxBlockEntries/devices, true)
	var changes []store.Change
	size := 0
	for i, r := range readings {
		size += len(r.Encode())
		dev := chain.HashBytes([]byte(fmt.Sprint(i)))
		changes = append(changes, store.Change{Key: append([]byte("d/device/"), dev[:]...), Value: make([]byte, 48)})
	}
	t.Logf("%d readings, %d bytes of entries, %d state changes", len(readings), size, len(changes))
	b := c.next(chain.LaneData, readings, nil)
	start := time.Now()
	if err := s.Commit(b, changes); err != nil {
		t.Fatalf("maximal block: %v", err)
	}
	t.Logf("commit took %v", time.Since(start))
	start = time.Now()
	got, err := s.Block(chain.LaneData, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reading the block back took %v", time.Since(start))
	if len(got.Readings) != chain.MaxBlockEntries || got.Hash() != b.Hash() {
		t.Fatalf("read back %d readings", len(got.Readings))
	}
	last := readings[len(readings)-1]
	r, loc, err := s.Reading(last.Device, last.Seq)
	if err != nil || r.Hash() != last.Hash() || loc.Index != chain.MaxBlockEntries-1 {
		t.Fatalf("last reading: %v at %s, %v", r, loc, err)
	}
	n := 0
	if err := s.Readings(last.Device, 0, 0, 0, func(*chain.Reading, store.Location) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != chain.MaxBlockEntries/devices {
		t.Fatalf("%d readings of one device, want %d", n, chain.MaxBlockEntries/devices)
	}
}
