package node

import (
	"bytes"
	"encoding/json"
	"net/http"
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

// TestFreshNetworkAsksForASecond: a network that has finalized no block
// (one of its two validators down) answers a POST past its admission
// floor 429 with Retry-After: 1, not the 30 s it asks of clients when a
// rate it knew has decayed to nothing: it knows no rate yet, and a new
// network's first blocks come within seconds.
func TestFreshNetworkAsksForASecond(t *testing.T) {
	tn, n := doorWithFullWindow(t, 1)
	body, err := json.Marshal([]*chain.Reading{signedReading(n.ChainID(), tn.deviceKey(0), 1, time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+n.APIAddr()+"/v1/readings", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a reading past the full window of a network with no block yet: %d, Retry-After %q; want 429, 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
