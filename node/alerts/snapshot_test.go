package alerts

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/sim"
)

// TestSnapshotRestoreContinues: an engine snapshotted after any prefix of
// a perturbed series, restored into a fresh engine and fed the rest raises
// the same alerts as one engine fed the whole series, and ends in the same
// state (same snapshot bytes).
func TestSnapshotRestoreContinues(t *testing.T) {
	base, limits := normal(t, 12)
	rapid.Check(t, func(rt *rapid.T) {
		rs := copySeries(base)
		for _, p := range rapid.SliceOfN(rapid.IntRange(0, 1<<20), 0, 40).Draw(rt, "perturbations") {
			r := rs[p%len(rs)]
			switch v := int64(p>>9) - 1024; p % 7 {
			case 0:
				r.FlowRate = v * 1000 // negative, out of range or a spike
			case 1:
				r.Conductivity = limits.Conductivity + v*100 // over or under the limit
			case 2:
				r.VolumeTotal -= 1000 // counter backwards
			case 3:
				r.Time = r.Time.Add(interval * 3) // clock off / gap
			case 4:
				r.Turbidity = rs[max(0, p%len(rs)-1)].Turbidity // flat line
			case 5:
				r.FlowRate += 5000 // night flow (a leak when it lasts)
			case 6:
				r.Seq += 2 // missed readings
			}
		}
		split := rapid.IntRange(0, len(rs)).Draw(rt, "split")
		th := DefaultThresholds()

		whole := newEngine(t, th)
		all := run(t, whole, rs, limits, nil)

		first := newEngine(t, th)
		before := run(t, first, rs[:split], limits, nil)
		snap, err := first.Snapshot()
		if err != nil {
			rt.Fatalf("Snapshot: %v", err)
		}
		restored := newEngine(t, th)
		if err := restored.Restore(snap); err != nil {
			rt.Fatalf("Restore: %v", err)
		}
		if !reflect.DeepEqual(restored.devices, first.devices) {
			rt.Fatalf("restored state differs from the snapshotted one")
		}
		var after []observed
		for _, o := range run(t, restored, rs[split:], limits, nil) {
			o.at += split
			after = append(after, o)
		}
		// run numbers heights from the slice it is given: renumber.
		got := append(before, after...)
		if len(got) != len(all) {
			rt.Fatalf("split at %d: %d alerts, uninterrupted %d", split, len(got), len(all))
		}
		for i := range all {
			if got[i].Kind != all[i].Kind || got[i].Message != all[i].Message || got[i].at != all[i].at {
				rt.Fatalf("split at %d: alert %d is %s %q at %d, uninterrupted %s %q at %d", split, i,
					got[i].Kind, got[i].Message, got[i].at, all[i].Kind, all[i].Message, all[i].at)
			}
		}
		a, _ := whole.Snapshot()
		b, _ := restored.Snapshot()
		if !bytes.Equal(a, b) {
			rt.Fatalf("split at %d: end states differ", split)
		}
	})
}

// TestRestoreRefuses: a damaged snapshot, one of another version or one
// taken with other thresholds is refused and the engine is left as it was.
func TestRestoreRefuses(t *testing.T) {
	rs, limits := normal(t, 2)
	e := newEngine(t, DefaultThresholds())
	run(t, e, rs, limits, nil)
	good, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := DefaultThresholds()
	other.SpikeMADs++
	var wrongVersion snapshot
	if err := snapDec.Unmarshal(good, &wrongVersion); err != nil {
		t.Fatal(err)
	}
	wrongVersion.Version++
	wv, _ := snapEnc.Marshal(&wrongVersion)
	for name, tc := range map[string]struct {
		data []byte
		th   Thresholds
	}{
		"truncated":        {good[:len(good)/2], DefaultThresholds()},
		"garbage":          {[]byte("not cbor"), DefaultThresholds()},
		"version":          {wv, DefaultThresholds()},
		"other thresholds": {good, other},
	} {
		t.Run(name, func(t *testing.T) {
			f := newEngine(t, tc.th)
			f.devices[chain.PubKey{1}] = &deviceState{lastSeq: 7, active: map[string]bool{}}
			err := f.Restore(tc.data)
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("Restore: %v, want ErrSnapshot", err)
			}
			if len(f.devices) != 1 || f.devices[chain.PubKey{1}].lastSeq != 7 {
				t.Fatal("a refused snapshot changed the engine")
			}
		})
	}
}

// BenchmarkStart compares the two ways an engine reaches the state of a
// chain of blocks readings (50 devices, one reading each per block): by
// replaying them all (a start without checkpoint) and by restoring a
// snapshot of it (a start from a checkpoint at the head; the blocks after
// a checkpoint are at most alertCheckpointEvery).
func BenchmarkStart(b *testing.B) {
	const devices = 50
	for _, blocks := range []int{1_000, 10_000} {
		f, err := sim.NewFleet(sim.Config{ChainID: "alerts-bench", Seed: 5, Devices: devices, Interval: interval})
		if err != nil {
			b.Fatal(err)
		}
		chainBlocks := make([][]*chain.Reading, blocks)
		for h := range chainBlocks {
			chainBlocks[h] = f.Next(monday.Add(time.Duration(h) * interval))
		}
		cfg := Config{ReadingInterval: interval, ReadingWindow: window, Thresholds: DefaultThresholds()}
		replay := func() *Engine {
			e, _ := NewEngine(cfg)
			for h, rs := range chainBlocks {
				at := BlockInfo{Height: uint64(h + 1), Time: rs[0].Time.Add(2 * time.Second)}
				for _, r := range rs {
					e.Observe(r, at, DeviceContext{})
				}
			}
			return e
		}
		snap, err := replay().Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("replay/blocks=%d", blocks), func(b *testing.B) {
			for range b.N {
				replay()
			}
		})
		b.Run(fmt.Sprintf("restore/blocks=%d", blocks), func(b *testing.B) {
			b.ReportMetric(float64(len(snap)), "snapshot-bytes")
			for range b.N {
				e, _ := NewEngine(cfg)
				if err := e.Restore(snap); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
