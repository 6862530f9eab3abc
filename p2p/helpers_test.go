package p2p

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/waterchain/waterchain/chain"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testNetwork = "waterchain-test/genesis-0011223344"

var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// testKey derives a node key from a label, so failures name stable keys.
func testKey(t testing.TB, label string) *chain.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("p2p test key " + label))
	k, err := chain.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testLogger() *slog.Logger {
	if os.Getenv("WATERCHAIN_P2P_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	}
	return nil
}

// testConfig is a loopback host config allowing keys, with timings short
// enough for tests.
func testConfig(key *chain.PrivateKey, allowed ...*chain.PrivateKey) Config {
	keys := make([]chain.PubKey, len(allowed))
	for i, k := range allowed {
		keys[i] = k.Public()
	}
	return Config{
		PrivateKey:         key.Ed25519(),
		ListenAddrs:        loopback,
		AllowedKeys:        keys,
		NetworkID:          testNetwork,
		Logger:             testLogger(),
		Registerer:         prometheus.NewRegistry(),
		ReconnectMin:       20 * time.Millisecond,
		ReconnectMax:       300 * time.Millisecond,
		HandshakeTimeout:   3 * time.Second,
		ScoreInspectPeriod: 50 * time.Millisecond,
		RequestTimeout:     5 * time.Second,
	}
}

func startHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// waitPeers waits, on PeersChanged events, until n's peers are exactly want.
func waitPeers(t testing.TB, n *Host, timeout time.Duration, want ...chain.PubKey) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := n.PeersChanged()
		got := n.Peers()
		if sameKeys(got, want) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("host %s: peers %v after %v, want %v", n.Key().Short(), shortKeys(got), timeout, shortKeys(want))
		}
	}
}

func sameKeys(a, b []chain.PubKey) bool {
	cmp := func(x, y chain.PubKey) int { return slices.Compare(x[:], y[:]) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

func shortKeys(ks []chain.PubKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Short()
	}
	return out
}

// eventually polls cond until it holds or timeout passes. It is for state
// that changes without an event to wait on (sampled scores, metrics).
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// counter reads a counter or gauge.
func counter(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	c.Collect(ch)
	close(ch)
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Counter != nil:
			sum += d.Counter.GetValue()
		case d.Gauge != nil:
			sum += d.Gauge.GetValue()
		}
	}
	return sum
}

// receive reads want messages from ch or fails after timeout.
func receive(t testing.TB, ch <-chan Message, want int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var got []Message
	for len(got) < want {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("topic closed after %d of %d messages", len(got), want)
			}
			got = append(got, m)
		case <-deadline.C:
			t.Fatalf("received %d of %d messages in %v", len(got), want, timeout)
		}
	}
	return got
}

func acceptAll(chain.PubKey, []byte) (Result, any) { return Accept, nil }

func label(i int) string { return fmt.Sprintf("node%d", i) }

// logLevel is Debug with WATERCHAIN_P2P_LOG=debug (gossipsub's RPC traces
// included) and Info with any other non-empty value.
func logLevel() slog.Level {
	if os.Getenv("WATERCHAIN_P2P_LOG") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
