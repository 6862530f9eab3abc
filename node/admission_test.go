package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/config"
)

// TestFloodPastTheFinalizedRateIsRefused floods a validator whose network
// cannot finalize (its only peer is stopped): the finalized rate is zero,
// so the door admits exactly its part of mempool.admit_floor (half: one of
// two validators' doors) and refuses the rest 429 mempool_full with a
// Retry-After, whatever the concurrency. The mempool never holds more
// than the window. When the peer is back, every admitted reading is
// final, the rate the door admits by rises, and a refused reading sent
// again is taken.
func TestFloodPastTheFinalizedRateIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	const (
		floor      = 200
		doorPart   = floor / 2 // of 2 validators' doors
		devices    = 40
		perDevice  = 25 // 1,000 readings, five times the window
		maxFinal   = 60 * time.Second
		goroutines = 8
	)
	tn := startTestNetWith(t, 2, 0, devices/2, testNetOptions{configure: func(_ int, cfg *config.Config) {
		cfg.Mempool.AdmitFloor = floor
	}})
	defer func() {
		if t.Failed() {
			tn.dump()
		}
	}()
	n := tn.nodes[0]
	waitFor(t, 60*time.Second, "a data block", func() bool { return n.Height(chain.LaneData) >= 1 })
	tn.nodes[1].Close()
	tn.nodes[1] = nil

	keys := make([]*chain.PrivateKey, devices)
	for i := range keys {
		keys[i] = tn.deviceKey(i)
	}
	base := time.Now()
	reqs := make([][]*chain.Reading, devices) // one request per device, seq 1..perDevice
	for d, k := range keys {
		for s := uint64(1); s <= perDevice; s++ {
			reqs[d] = append(reqs[d], signedReading(n.ChainID(), k, s, base.Add(time.Duration(s)*time.Millisecond)))
		}
	}

	var (
		mu          sync.Mutex
		accepted    = make([]int, devices) // per device: readings taken (a prefix of seqs)
		acceptedAll int
		refused     int
		wrong       []error
	)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() { // the window holds while the flood runs
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if st := n.readings.Stats(time.Now()); st.Waiting > st.Window || n.readings.Len() > floor {
				t.Errorf("mempool: %d waiting (%d in the pool), window %d", st.Waiting, n.readings.Len(), st.Window)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := g; d < devices; d += goroutines {
				for i, err := range n.SubmitReadings(reqs[d]) {
					mu.Lock()
					var he *api.HTTPError
					switch {
					case err == nil:
						if i != accepted[d] {
							wrong = append(wrong, errors.New("device "+strconv.Itoa(d)+": a reading taken after a refused one"))
						}
						accepted[d]++
						acceptedAll++
					case errors.As(err, &he) && he.Status == http.StatusTooManyRequests && he.Code == api.CodeMempoolFull && he.RetryAfter >= 100*time.Millisecond:
						refused++
					default:
						wrong = append(wrong, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	for _, err := range wrong {
		t.Errorf("flood: %v", err)
	}
	if acceptedAll != doorPart || refused != devices*perDevice-doorPart {
		t.Fatalf("flood of %d: %d accepted, %d refused 429; want the door's part of the floor, %d, accepted", devices*perDevice, acceptedAll, refused, doorPart)
	}
	if got := n.readings.Len(); got != doorPart {
		t.Fatalf("mempool holds %d, want %d", got, doorPart)
	}

	// Over HTTP: the status, the code and the Retry-After header.
	k := 0
	for accepted[k] == perDevice {
		k++
	}
	next := reqs[k][accepted[k]]
	body, _ := json.Marshal([]*chain.Reading{next})
	resp, err := http.Post("http://"+n.APIAddr()+"/v1/readings", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || ra < 1 {
		t.Fatalf("one more over HTTP: %d, Retry-After %q; want 429 and a number of seconds", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// With the window full a request is refused whole before its body is
	// decoded: one that is not even JSON gets the same 429, not a 400.
	before := counterValue(t, n.metrics.readingsOverWindowRequests)
	resp, err = http.Post("http://"+n.APIAddr()+"/v1/readings", "application/json", bytes.NewReader([]byte("[{not json")))
	if err != nil {
		t.Fatal(err)
	}
	var refusal api.Error
	json.NewDecoder(resp.Body).Decode(&refusal)
	resp.Body.Close()
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || refusal.Code != api.CodeMempoolFull || ra < 1 {
		t.Fatalf("a body not decoded while the window is full: %d %q, Retry-After %q; want 429 %s and a number of seconds", resp.StatusCode, refusal.Code, resp.Header.Get("Retry-After"), api.CodeMempoolFull)
	}
	if got := counterValue(t, n.metrics.readingsOverWindowRequests) - before; got != 1 {
		t.Fatalf("requests refused whole: %v more, want 1", got)
	}

	// The network is back: what was admitted is final.
	tn.nodes[1] = tn.start(1)
	waitFor(t, maxFinal, "every admitted reading final", func() bool {
		// Final in the state and written: the mempool forgets a block's
		// readings once it is written (commitwriter.go).
		if n.readings.Len() > 0 {
			return false
		}
		for d, key := range keys {
			dv, err := state.GetDevice(n.state, key.Public())
			if err != nil || dv.Data.LastSeq < uint64(accepted[d]) {
				return false
			}
		}
		return true
	})
	// They waited past admit_wait: for rate_window the door admits by
	// the rate alone, which has risen from zero.
	if st := n.readings.Stats(time.Now()); st.RatePerS <= 0 || st.Window < 1 || st.DoorWindow < 1 {
		t.Fatalf("after %d readings final: rate %.1f/s, window %d (the door's %d)", doorPart, st.RatePerS, st.Window, st.DoorWindow)
	}
	if errs := n.SubmitReadings([]*chain.Reading{next}); errs[0] != nil {
		t.Fatalf("a refused reading sent again once the window has room: %v", errs[0])
	}
}
