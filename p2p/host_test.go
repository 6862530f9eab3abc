package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
)

// startNetwork starts n hosts allowing each other, each bootstrapping to the
// ones started before it, and waits until every host has all others as peers.
func startNetwork(t testing.TB, size int, tweak func(i int, c *Config)) ([]*Host, []*chain.PrivateKey) {
	t.Helper()
	keys := make([]*chain.PrivateKey, size)
	pubs := make([]chain.PubKey, size)
	for i := range keys {
		keys[i] = testKey(t, label(i))
		pubs[i] = keys[i].Public()
	}
	hosts := make([]*Host, size)
	for i := range hosts {
		cfg := testConfig(keys[i], keys...)
		for _, prev := range hosts[:i] {
			cfg.Bootstrap = append(cfg.Bootstrap, prev.Addrs()...)
		}
		if tweak != nil {
			tweak(i, &cfg)
		}
		hosts[i] = startHost(t, cfg)
	}
	for i, h := range hosts {
		others := append(append([]chain.PubKey(nil), pubs[:i]...), pubs[i+1:]...)
		waitPeers(t, h, time.Minute, others...)
	}
	return hosts, keys
}

func TestGossipReachesEveryHost(t *testing.T) {
	hosts, keys := startNetwork(t, 4, nil)
	// The validator hands its decoded value to the reader: here the text
	// after "reading:".
	validate := func(_ chain.PubKey, data []byte) (Result, any) {
		rest, ok := bytes.CutPrefix(data, []byte("reading:"))
		if !ok {
			return Reject, nil
		}
		return Accept, string(rest)
	}
	topics := make([]*Topic, len(hosts))
	for i, h := range hosts {
		tp, err := h.Join("readings", validate)
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = tp
	}
	for _, tp := range topics {
		eventually(t, 10*time.Second, "every host to see 3 subscribers", func() bool { return len(tp.Peers()) == 3 })
	}

	const perHost = 5
	ctx := context.Background()
	for i, tp := range topics {
		for j := range perHost {
			if err := tp.Publish(ctx, fmt.Appendf(nil, "reading:%d/%d", i, j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, tp := range topics {
		got := receive(t, tp.Messages(), 3*perHost, 10*time.Second)
		seen := make(map[string]bool)
		for _, m := range got {
			v, _ := m.Value.(string)
			if !strings.HasPrefix(string(m.Data), "reading:") || "reading:"+v != string(m.Data) {
				t.Fatalf("host %d: message %q with value %v", i, m.Data, m.Value)
			}
			if strings.HasPrefix(v, fmt.Sprint(i, "/")) {
				t.Fatalf("host %d: its own message %q looped back", i, m.Data)
			}
			if m.From == keys[i].Public() {
				t.Fatalf("host %d: message from itself", i)
			}
			if seen[v] {
				t.Fatalf("host %d: %q delivered twice", i, m.Data)
			}
			seen[v] = true
		}
		if n := counter(t, hosts[i].metrics.gossipResults.WithLabelValues("readings", "accept")); n < 3*perHost {
			t.Errorf("host %d: accept counter %v, want >= %d", i, n, 3*perHost)
		}
		if n := counter(t, hosts[i].metrics.peers); n != 3 {
			t.Errorf("host %d: peers gauge %v, want 3", i, n)
		}
	}
}

func TestJoinAndPublishErrors(t *testing.T) {
	k := testKey(t, "solo")
	cfg := testConfig(k, k)
	cfg.MaxMessageSize = 100
	n := startHost(t, cfg)
	if _, err := n.Join("Readings!", acceptAll); !errors.Is(err, ErrBadTopic) {
		t.Errorf("bad name: got %v, want ErrBadTopic", err)
	}
	tp, err := n.Join("readings", acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Join("readings", acceptAll); !errors.Is(err, ErrTopicJoined) {
		t.Errorf("second join: got %v, want ErrTopicJoined", err)
	}
	if err := tp.Publish(context.Background(), make([]byte, 101)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversize publish: got %v, want ErrMessageTooLarge", err)
	}
	tp.Close()
	if _, ok := <-tp.Messages(); ok {
		t.Error("Messages not closed by Close")
	}
	if err := tp.Publish(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after close: got %v, want ErrClosed", err)
	}
	// The name is free again.
	tp2, err := n.Join("readings", acceptAll)
	if err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	n.Close()
	if _, ok := <-tp2.Messages(); ok {
		t.Error("Messages not closed by Host.Close")
	}
	if _, err := n.Join("other", acceptAll); !errors.Is(err, ErrClosed) {
		t.Errorf("join after close: got %v, want ErrClosed", err)
	}
}

func TestGaterRefusesUnknownKeys(t *testing.T) {
	a, b, stranger := testKey(t, "a"), testKey(t, "b"), testKey(t, "stranger")
	hostA := startHost(t, testConfig(a, a, b))
	// The stranger would accept A: only A's gater stands in the way.
	hostS := startHost(t, testConfig(stranger, stranger, a))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	infoA := peer.AddrInfo{ID: hostA.ID(), Addrs: hostA.h.Addrs()}
	infoS := peer.AddrInfo{ID: hostS.ID(), Addrs: hostS.h.Addrs()}

	// Dialing in: refused once Noise has proven the stranger's key.
	if err := hostS.h.Connect(ctx, infoA); err == nil {
		// The dialer may see the handshake succeed before A's gater
		// closes the connection; it must not survive.
		eventually(t, 5*time.Second, "A to drop the stranger", func() bool {
			return len(hostA.h.Network().ConnsToPeer(hostS.ID())) == 0
		})
	}
	// A QUIC client may hold its side of a refused connection a moment
	// longer; a later Connect would reuse it.
	eventually(t, 10*time.Second, "the stranger to see the refusal", func() bool {
		return len(hostS.h.Network().ConnsToPeer(hostA.ID())) == 0
	})
	// Being dialed: A refuses to dial a key it does not allow.
	hostA.h.Peerstore().AddAddrs(infoS.ID, infoS.Addrs, time.Minute)
	if err := hostA.h.Connect(ctx, infoS); err == nil {
		t.Fatal("A dialed a peer whose key is not allowed")
	}
	if _, err := hostA.Request(ctx, stranger.Public(), "ping", nil); err == nil {
		t.Fatal("A requested from a peer whose key is not allowed")
	}
	if n := counter(t, hostA.metrics.denied); n < 2 {
		t.Errorf("denied counter %v, want >= 2 (one each way)", n)
	}
	if got := hostA.Peers(); len(got) != 0 {
		t.Fatalf("A has peers %v", shortKeys(got))
	}

	// Admitting the stranger lets it in; removing it again drops it.
	if err := hostA.UpdateAllowed([]chain.PubKey{a.Public(), b.Public(), stranger.Public()}); err != nil {
		t.Fatal(err)
	}
	if err := hostS.h.Connect(ctx, infoA); err != nil {
		t.Fatalf("connect after UpdateAllowed: %v", err)
	}
	waitPeers(t, hostA, 5*time.Second, stranger.Public())
	if err := hostA.UpdateAllowed([]chain.PubKey{a.Public(), b.Public()}); err != nil {
		t.Fatal(err)
	}
	waitPeers(t, hostA, 5*time.Second)
	if n := counter(t, hostA.metrics.disconnects.WithLabelValues("not_allowed")); n != 1 {
		t.Errorf("not_allowed disconnects %v, want 1", n)
	}
}

func TestBootstrapToUnknownKeyNeverConnects(t *testing.T) {
	a, stranger := testKey(t, "a"), testKey(t, "stranger")
	hostA := startHost(t, testConfig(a, a))
	cfg := testConfig(stranger, stranger, a)
	cfg.Bootstrap = hostA.Addrs()
	hostS := startHost(t, cfg)
	// The stranger keeps redialing with backoff; each attempt is refused.
	eventually(t, 10*time.Second, "A to refuse three dials", func() bool {
		return counter(t, hostA.metrics.denied) >= 3
	})
	if got := hostA.Peers(); len(got) != 0 {
		t.Fatalf("A has peers %v", shortKeys(got))
	}
	if got := hostS.Peers(); len(got) != 0 {
		t.Fatalf("stranger has peers %v", shortKeys(got))
	}
}

func TestOtherNetworkIsDropped(t *testing.T) {
	a, b := testKey(t, "a"), testKey(t, "b")
	hostA := startHost(t, testConfig(a, a, b))
	cfg := testConfig(b, a, b)
	cfg.NetworkID = "waterchain-test/genesis-other"
	cfg.Bootstrap = hostA.Addrs()
	hostB := startHost(t, cfg)
	for _, h := range []*Host{hostA, hostB} {
		eventually(t, 10*time.Second, "both sides to log a network mismatch", func() bool {
			return counter(t, h.metrics.disconnects.WithLabelValues("network_mismatch")) >= 1
		})
	}
	if got := hostA.Peers(); len(got) != 0 {
		t.Fatalf("A has peers %v", shortKeys(got))
	}
	if got := hostB.Peers(); len(got) != 0 {
		t.Fatalf("B has peers %v", shortKeys(got))
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	a, b := testKey(t, "a"), testKey(t, "b")
	cfgB := testConfig(b, a, b)
	cfgB.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	hostB := startHost(t, cfgB)
	cfgA := testConfig(a, a, b)
	cfgA.Bootstrap = hostB.Addrs()
	hostA := startHost(t, cfgA)
	waitPeers(t, hostA, 10*time.Second, b.Public())

	// B goes down; A notices and keeps redialing.
	cfgB.ListenAddrs = []string{hostB.listenMultiaddrs()[0].String()}
	hostB.Close()
	waitPeers(t, hostA, 10*time.Second)

	// B comes back on the same address; A reconnects without help.
	cfgB.Registerer = nil
	hostB2 := startHost(t, cfgB)
	waitPeers(t, hostA, 10*time.Second, b.Public())
	waitPeers(t, hostB2, 10*time.Second, a.Public())
}

func TestCloseIsIdempotentAndStopsGoroutines(t *testing.T) {
	hosts, _ := startNetwork(t, 2, nil)
	for _, h := range hosts {
		if _, err := h.Join("x", acceptAll); err != nil {
			t.Fatal(err)
		}
	}
	hosts[0].Close()
	hosts[0].Close()
	waitPeers(t, hosts[1], 5*time.Second)
	// goleak in TestMain checks that nothing is left running.
}

// TestSilentPeerIsDropped connects a bare libp2p host holding an allowed key
// but not speaking the hello protocol: the Host drops it after
// HandshakeTimeout and never lists it as a peer.
func TestSilentPeerIsDropped(t *testing.T) {
	a, b := testKey(t, "a"), testKey(t, "b")
	cfg := testConfig(a, a, b)
	cfg.HandshakeTimeout = 300 * time.Millisecond
	hostA := startHost(t, cfg)
	sk, _, err := identity(b.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	bare, err := libp2p.New(libp2p.Identity(sk), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bare.Connect(ctx, peer.AddrInfo{ID: hostA.ID(), Addrs: hostA.h.Addrs()}); err != nil {
		t.Fatalf("the gater should admit an allowed key: %v", err)
	}
	eventually(t, 10*time.Second, "A to drop the silent peer", func() bool {
		return counter(t, hostA.metrics.disconnects.WithLabelValues("no_handshake")) >= 1 &&
			len(hostA.h.Network().ConnsToPeer(bare.ID())) == 0
	})
	if got := hostA.Peers(); len(got) != 0 {
		t.Fatalf("A lists %v", shortKeys(got))
	}
}

func TestNewFailsOnBusyPort(t *testing.T) {
	a, b := testKey(t, "a"), testKey(t, "b")
	cfg := testConfig(a, a)
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	hostA := startHost(t, cfg)
	cfgB := testConfig(b, b)
	cfgB.ListenAddrs = []string{hostA.listenMultiaddrs()[0].String()}
	n, err := New(context.Background(), cfgB)
	if err == nil {
		n.Close()
		t.Fatalf("second host listened on %v too", cfgB.ListenAddrs)
	}
	if !strings.Contains(err.Error(), "listen") {
		t.Fatalf("error %q does not say it could not listen", err)
	}
}

// TestGossipCrossesALineAtTheSmallestMesh: five hosts in a line (each
// dials only the one before it) with MeshDegree 2, the smallest Validate
// admits: a message published at one end reaches the other through three
// forwarding hosts, so a small mesh still carries gossip past peers the
// author is not connected to.
func TestGossipCrossesALineAtTheSmallestMesh(t *testing.T) {
	const size = 5
	keys := make([]*chain.PrivateKey, size)
	for i := range keys {
		keys[i] = testKey(t, label(i))
	}
	hosts := make([]*Host, size)
	topics := make([]*Topic, size)
	for i := range hosts {
		cfg := testConfig(keys[i], keys...)
		cfg.MeshDegree = 2
		if i > 0 {
			cfg.Bootstrap = hosts[i-1].Addrs()
		}
		hosts[i] = startHost(t, cfg)
		tp, err := hosts[i].Join("readings", acceptAll)
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = tp
	}
	for i := 1; i < size; i++ {
		eventually(t, 15*time.Second, fmt.Sprintf("host %d to see host %d subscribed", i, i-1), func() bool {
			for _, k := range topics[i].Peers() {
				if k == keys[i-1].Public() {
					return true
				}
			}
			return false
		})
	}
	if n := len(hosts[0].Peers()); n != 1 {
		t.Fatalf("host 0 has %d peers, want 1 (a line)", n)
	}
	// The mesh forms at gossipsub's heartbeat: publish until the far end
	// gets a message.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if err := topics[0].Publish(context.Background(), fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-topics[size-1].Messages():
			if m.From != keys[size-2].Public() {
				t.Fatalf("the far end got %q from %s, want it from its only peer", m.Data, m.From.Short())
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no message crossed the line in 20s")
		}
	}
}

// TestNoResourceManagerMetrics: the host's Registerer gets libp2p's own
// series (the swarm's, here) but none of the resource manager's, whose
// statistics cost an update on every stream opened and closed.
func TestNoResourceManagerMetrics(t *testing.T) {
	hosts, keys := startNetwork(t, 2, nil)
	if err := hosts[1].Handle("echo/1", func(_ context.Context, _ chain.PubKey, req []byte) ([]byte, error) {
		return req, nil
	}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := hosts[0].Request(context.Background(), keys[1].Public(), "echo/1", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range hosts {
		mfs, err := h.cfg.Registerer.(prometheus.Gatherer).Gather()
		if err != nil {
			t.Fatal(err)
		}
		var libp2pSeries, rcmgrSeries []string
		for _, mf := range mfs {
			name := mf.GetName()
			switch {
			case strings.HasPrefix(name, "libp2p_rcmgr_"):
				rcmgrSeries = append(rcmgrSeries, name)
			case strings.HasPrefix(name, "libp2p_"):
				libp2pSeries = append(libp2pSeries, name)
			}
		}
		if len(rcmgrSeries) > 0 {
			t.Errorf("host %d serves resource-manager series %v", i, rcmgrSeries)
		}
		if len(libp2pSeries) == 0 {
			t.Errorf("host %d serves none of libp2p's other series", i)
		}
	}
}
