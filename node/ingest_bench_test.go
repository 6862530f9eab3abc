package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waterchain/waterchain/bench/verifyrate"
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
)

// BenchmarkHTTPIngest is issue 6's figure: signed readings per second one
// running node accepts through POST /v1/readings in batches of 1,000 (JSON
// decoding, batched signature checks, the data lane's door rules, mempool,
// gossip; the node finalizes them meanwhile), against this machine's raw
// crypto/ed25519 verify rate on all cores measured in the same run (before
// the node starts and after it has finalized every reading; the higher of
// the two counts).
//
// clients=1 is one gateway posting batch after batch; clients=4 are four
// at once, each with its own devices. readings/s and ratio count readings
// accepted at the door; final/s and final-ratio count them until the last
// is final, which is the rate the node can sustain.
//
//	go test ./node -run XXX -bench HTTPIngest -benchtime 60x
func BenchmarkHTTPIngest(b *testing.B) {
	for _, clients := range []int{1, 4} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchHTTPIngest(b, clients) })
	}
}

// benchHTTPIngest posts b.N batches of 1,000 readings from clients
// concurrent clients (gateways). Each client owns a share of the devices, so
// every device's readings arrive in sequence order as a real meter's do.
func benchHTTPIngest(b *testing.B, clients int) {
	// The raw rate is measured before the node starts and again after it
	// has finalized everything; the higher one (the lower ratio) counts.
	rawBefore := rawVerifyRate(b)
	tn := startTestNet(b, 1, 0, 100)
	n := tn.nodes[0]
	keys := make([]*chain.PrivateKey, len(tn.nw.Devices))
	for i := range keys {
		keys[i] = tn.deviceKey(i)
	}
	const batch = 1000
	seq := make([]uint64, len(keys))
	// bodies[c] are client c's batches, of its devices d ≡ c (mod clients).
	bodies := make([][][]byte, clients)
	base := time.Now()
	for i := 0; i < b.N; i++ {
		c := i % clients
		rs := make([]*chain.Reading, batch)
		for j := range rs {
			d := c + ((i/clients*batch+j)*clients)%(len(keys)-len(keys)%clients)
			seq[d]++
			rs[j] = signedReading(n.ChainID(), keys[d], seq[d], base.Add(time.Duration(seq[d])*time.Millisecond))
		}
		body, _ := json.Marshal(rs)
		bodies[c] = append(bodies[c], body)
	}
	url := "http://" + n.APIAddr() + "/v1/readings"
	var accepted atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, body := range bodies[c] {
				resp, err := http.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					errc <- err
					return
				}
				// 202 means every reading of the batch was accepted; the
				// client (in this process, sharing the CPU) does not parse
				// the answer then.
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(batch)
				} else {
					var res api.SubmitReadingsResult
					_ = json.NewDecoder(resp.Body).Decode(&res)
					accepted.Add(int64(res.Accepted))
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	// The node finalizes the readings meanwhile; wait until every device's
	// last reading is final, so that the raw verify rate below has the CPU
	// to itself.
	waitFor(b, 2*time.Minute, "every accepted reading final", func() bool {
		for d, key := range keys {
			if dev, err := state.GetDevice(n.state, key.Public()); err != nil || dev.Data.LastSeq != seq[d] {
				return false
			}
		}
		return true
	})
	final := time.Since(start)
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	if got := accepted.Load(); got != int64(b.N*batch) {
		b.Fatalf("accepted %d of %d", got, b.N*batch)
	}
	rate := float64(b.N*batch) / elapsed.Seconds()
	raw := max(rawBefore, rawVerifyRate(b))
	b.ReportMetric(rate, "readings/s")
	b.ReportMetric(raw, "raw-verify/s")
	b.ReportMetric(rate/raw, "ratio")
	b.ReportMetric(float64(b.N*batch)/final.Seconds(), "final/s")
	b.ReportMetric(float64(b.N*batch)/final.Seconds()/raw, "final-ratio")
}

// rawVerifyRate is crypto/ed25519.Verify per second on all cores, over 2 s.
func rawVerifyRate(b *testing.B) float64 {
	rate, err := verifyrate.Ed25519(context.Background(), 2*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return rate
}
