package node

import (
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

// TestDoorRefusesPastTheWindowBeforeTheState: with the window full, a
// reading the state's rules would refuse (an unregistered meter, a
// replayed seq) is refused 429 mempool_full, not 422 or 409: the window,
// which reads only device and seq, comes before the rules, which read the
// device's records, so that the readings refused over the peak (sent
// again after each Retry-After) cost no state reads.
func TestDoorRefusesPastTheWindowBeforeTheState(t *testing.T) {
	_, n := doorWithFullWindow(t, 1)
	unknown, _ := chain.GenerateKey(nil)
	before := counterValue(t, n.metrics.doorSignatureChecks)
	errs := n.SubmitReadings([]*chain.Reading{signedReading(n.ChainID(), unknown, 1, time.Now())})
	he, ok := errs[0].(*api.HTTPError)
	if !ok || he.Status != http.StatusTooManyRequests || he.Code != api.CodeMempoolFull || he.RetryAfter < 1 {
		t.Fatalf("an unregistered meter's reading past the full window: %v, want 429 %s with a Retry-After", errs[0], api.CodeMempoolFull)
	}
	if got := counterValue(t, n.metrics.doorSignatureChecks) - before; got != 0 {
		t.Fatalf("%.0f signatures checked for a reading past the window, want none", got)
	}
}

// BenchmarkDoorPastTheWindow: what the door spends on a reading it
// refuses for the window, in requests of 1,000 readings of registered
// meters (the window holds one reading, taken): with the state's rules
// before the window, each refused reading cost its meter's two state
// reads.
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
