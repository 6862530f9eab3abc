package p2p

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestBurst is the experiment behind the default queue sizes and publish
// rate: 4 hosts on loopback in a full mesh, one publishing a burst of signed
// 200-byte messages (a reading's size) that each receiver's validator
// verifies with ed25519, as the node's will. It reports, per configuration,
// the deliveries out of 3·N, the time until the last one, and what the drop
// counters saw. It takes a minute or two, so it runs only with
// WATERCHAIN_P2P_BURST=1 (WATERCHAIN_P2P_BURST_N sets N, default 20000):
//
//	WATERCHAIN_P2P_BURST=1 go test ./p2p -run TestBurst -v
func TestBurst(t *testing.T) {
	if os.Getenv("WATERCHAIN_P2P_BURST") == "" {
		t.Skip("set WATERCHAIN_P2P_BURST=1 to run the 20,000-message burst experiment")
	}
	n := 20000
	if s := os.Getenv("WATERCHAIN_P2P_BURST_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	pubsubDefaults := func(c *Config) {
		c.OutboundQueueSize, c.ValidateQueueSize, c.SubscriptionBuffer = 32, 32, 32
		c.PublishRate = -1
	}
	scenarios := []struct {
		name  string
		tweak func(*Config)
	}{
		{"gossipsub defaults (signed, queues 32, unpaced)", func(c *Config) { pubsubDefaults(c); c.libp2pSigning = true }},
		{"StrictNoSign, queues 32, unpaced", pubsubDefaults},
		{"StrictNoSign, queues 32, paced at 1000/s", func(c *Config) {
			pubsubDefaults(c)
			c.PublishRate, c.PublishBurst = 1000, 32
		}},
		{"StrictNoSign, queues 32, paced at default rate", func(c *Config) {
			pubsubDefaults(c)
			c.PublishRate, c.PublishBurst = DefaultPublishRate, 32
		}},
		{"signed, default queues, unpaced", func(c *Config) { c.PublishRate = -1; c.libp2pSigning = true }},
		{"StrictNoSign, default queues, unpaced", func(c *Config) { c.PublishRate = -1 }},
		{"StrictNoSign, default queues, paced (defaults)", func(*Config) {}},
	}
	if s := os.Getenv("WATERCHAIN_P2P_BURST_ONLY"); s != "" {
		i, _ := strconv.Atoi(s)
		scenarios = scenarios[i : i+1]
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := runBurst(t, n, sc.tweak)
			t.Logf("%-48s delivered %6d/%6d (%5.1f%% lost)  last after %6.2fs  %6.0f msg/s per receiver  latency p50 %6.3fs p99 %6.3fs  publish took %5.2fs  drops counted %d",
				sc.name, r.delivered, 3*n, 100*float64(3*n-r.delivered)/float64(3*n),
				r.elapsed.Seconds(), float64(r.delivered)/3/r.elapsed.Seconds(), r.p50.Seconds(), r.p99.Seconds(), r.publish.Seconds(), r.drops)
		})
	}
}

type burstResult struct {
	delivered int
	drops     int
	elapsed   time.Duration
	publish   time.Duration
	p50, p99  time.Duration
}

func runBurst(t *testing.T, n int, tweak func(*Config)) burstResult {
	hosts, _ := startNetwork(t, 4, func(_ int, c *Config) { tweak(c) })
	device := testKey(t, "device")
	devPub := device.Public()
	validate := func(_ chain.PubKey, data []byte) (Result, any) {
		if len(data) != 200 || !ed25519.Verify(devPub[:], data[:136], data[136:]) {
			return Reject, nil
		}
		return Accept, nil
	}
	var counts [4]atomic.Int64
	var latMu sync.Mutex // guards lat
	var lat []time.Duration
	topics := make([]*Topic, 4)
	for i, h := range hosts {
		tp, err := h.Join("readings", validate)
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = tp
		if i > 0 {
			go func() {
				for m := range tp.Messages() {
					sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data[8:])))
					latMu.Lock()
					lat = append(lat, time.Since(sent))
					latMu.Unlock()
					counts[i].Add(1)
				}
			}()
		}
	}
	for _, tp := range topics {
		eventually(t, 10*time.Second, "subscriptions", func() bool { return len(tp.Peers()) == 3 })
	}

	// Sign everything first: the burst measures the network, not signing.
	// Each message carries its sequence number and its publish time; the
	// publish time is stamped just before Publish and signed then, since
	// signing costs ~20 µs against a publish rate of thousands per second.
	ctx := context.Background()
	start := time.Now()
	for i := range n {
		m := make([]byte, 136, 200)
		binary.BigEndian.PutUint64(m, uint64(i))
		binary.BigEndian.PutUint64(m[8:], uint64(time.Now().UnixNano()))
		m = append(m, ed25519.Sign(device.Ed25519(), m)...)
		if err := topics[0].Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	publish := time.Since(start)

	// Wait for every delivery, or until nothing has arrived for 3 s.
	total := func() int {
		s := 0
		for i := 1; i < 4; i++ {
			s += int(counts[i].Load())
		}
		return s
	}
	last, lastAt := -1, time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got := total()
		if got != last {
			last, lastAt = got, time.Now()
		}
		if got == 3*n || time.Since(lastAt) > 3*time.Second {
			break
		}
		<-tick.C
	}
	drops := 0
	for _, h := range hosts {
		drops += int(counter(t, h.metrics.gossipDropped))
	}
	latMu.Lock()
	defer latMu.Unlock()
	slices.Sort(lat)
	r := burstResult{delivered: last, drops: drops, elapsed: lastAt.Sub(start), publish: publish}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}
