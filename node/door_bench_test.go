package node

import (
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/config"
)

// doorWithFullWindow starts two validators and stops one, so that no
// block is finalized, with at least devices meters; the other's admission
// window is then a single reading (admit_floor 1, its share of it, and no
// finalized rate), and it fills that reading with a meter of its own,
// the last.
func doorWithFullWindow(t testing.TB, devices int) (*testNet, *Node) {
	tn := startTestNetWith(t, 2, 0, devices/2+1, testNetOptions{configure: func(_ int, cfg *config.Config) {
		cfg.Mempool.AdmitFloor = 1
	}})
	tn.nodes[1].Close()
	tn.nodes[1] = nil
	n := tn.nodes[0]
	filler := signedReading(n.ChainID(), tn.deviceKey(len(tn.nw.Devices)-1), 1, time.Now())
	if errs := n.SubmitReadings([]*chain.Reading{filler}); errs[0] != nil {
		t.Fatalf("filling the window: %v", errs[0])
	}
	return tn, n
}

// BenchmarkDoorPastTheWindow: what the door spends on a reading it
// refuses for the window, in requests of 1,000 readings of registered
// meters (the window holds one reading, taken): shape, the state's rules
// (the meter's two state reads), its hash and the duplicate checks, and
// the window.
//
//	go test ./node -run XXX -bench DoorPastTheWindow -benchtime 200x -count 3
func BenchmarkDoorPastTheWindow(b *testing.B) {
	const perRequest = 1_000
	tn, n := doorWithFullWindow(b, perRequest)
	rs := make([]*chain.Reading, perRequest)
	for i := range rs {
		rs[i] = signedReading(n.ChainID(), tn.deviceKey(i), 1, time.Now())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		errs := n.SubmitReadings(rs)
		if he, ok := errs[perRequest-1].(*api.HTTPError); !ok || he.Code != api.CodeMempoolFull {
			b.Fatalf("the last reading: %v, want refused for the window", errs[perRequest-1])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRequest), "ns/reading")
}
