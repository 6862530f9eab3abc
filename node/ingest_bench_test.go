package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// BenchmarkHTTPIngest is issue 6's figure: signed readings per second one
// running node accepts through POST /v1/readings in batches of 1,000 (JSON
// decoding, batched signature checks, the data lane's door rules, mempool,
// gossip; the node finalizes them meanwhile), against this machine's raw
// crypto/ed25519 verify rate on all cores measured in the same run.
//
//	go test ./node -run XXX -bench HTTPIngest -benchtime 20x
func BenchmarkHTTPIngest(b *testing.B) {
	tn := startTestNet(b, 1, 0, 100)
	n := tn.nodes[0]
	keys := make([]*chain.PrivateKey, len(tn.nw.Devices))
	for i := range keys {
		keys[i] = tn.deviceKey(i)
	}
	const batch = 1000
	seq := make([]uint64, len(keys))
	bodies := make([][]byte, b.N)
	base := time.Now()
	for i := range bodies {
		rs := make([]*chain.Reading, batch)
		for j := range rs {
			d := (i*batch + j) % len(keys)
			seq[d]++
			rs[j] = signedReading(n.ChainID(), keys[d], seq[d], base.Add(time.Duration(seq[d])*time.Millisecond))
		}
		bodies[i], _ = json.Marshal(rs)
	}
	url := "http://" + n.APIAddr() + "/v1/readings"
	accepted := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		resp, err := http.Post(url, "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			b.Fatal(err)
		}
		// 202 means every reading of the batch was accepted; the client
		// (in this process, sharing the CPU) does not parse the answer.
		if resp.StatusCode == http.StatusAccepted {
			accepted += batch
		} else {
			var res api.SubmitReadingsResult
			_ = json.NewDecoder(resp.Body).Decode(&res)
			accepted += res.Accepted
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if accepted != b.N*batch {
		b.Fatalf("accepted %d of %d", accepted, b.N*batch)
	}
	rate := float64(accepted) / elapsed.Seconds()
	raw := rawVerifyRate(2 * time.Second)
	b.ReportMetric(rate, "readings/s")
	b.ReportMetric(raw, "raw-verify/s")
	b.ReportMetric(rate/raw, "ratio")
}

// rawVerifyRate is crypto/ed25519.Verify per second on all cores. (Package
// node/bench has the same measurement; it imports this package, so a test
// here cannot use it.)
func rawVerifyRate(d time.Duration) float64 {
	_, priv, _ := ed25519.GenerateKey(nil)
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 32)
	sig := ed25519.Sign(priv, msg)
	var count atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				for i := 0; i < 64; i++ {
					if ed25519.Verify(pub, msg, sig) {
						count.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / d.Seconds()
}
