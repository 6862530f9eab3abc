package p2p

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		k := testKey(t, "cfg")
		return Config{
			PrivateKey:  k.Ed25519(),
			ListenAddrs: loopback,
			Bootstrap:   []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWAHXeDgdaGcS5qYKBRMqmsMJaeBnPB8TjLcYKbCwp3a8G"},
			NetworkID:   testNetwork,
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		field  string
		break_ func(*Config)
	}{
		{"no key", "PrivateKey", func(c *Config) { c.PrivateKey = nil }},
		{"short key", "PrivateKey", func(c *Config) { c.PrivateKey = c.PrivateKey[:32] }},
		{"no network", "NetworkID", func(c *Config) { c.NetworkID = "" }},
		{"long network", "NetworkID", func(c *Config) { c.NetworkID = strings.Repeat("x", 257) }},
		{"bad listen", "ListenAddrs[1]", func(c *Config) { c.ListenAddrs = []string{loopback[0], "127.0.0.1:4001"} }},
		{"bootstrap without id", "Bootstrap[0]", func(c *Config) { c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001"} }},
		{"mdns", "MDNS", func(c *Config) { c.MDNS = true }},
		{"backoff inverted", "ReconnectMax", func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }},
		{"negative queue", "OutboundQueueSize", func(c *Config) { c.OutboundQueueSize = -1 }},
		{"negative request size", "MaxRequestSize", func(c *Config) { c.MaxRequestSize = -5 }},
		{"huge response size", "MaxResponseSize", func(c *Config) { c.MaxResponseSize = math.MaxUint32 + 1 }},
		{"negative timeout", "RequestTimeout", func(c *Config) { c.RequestTimeout = -time.Second }},
		{"NaN rate", "PublishRate", func(c *Config) { c.PublishRate = math.NaN() }},
		{"mesh of one", "MeshDegree", func(c *Config) { c.MeshDegree = 1 }},
		{"negative mesh", "MeshDegree", func(c *Config) { c.MeshDegree = -3 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.break_(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.OutboundQueueSize != DefaultOutboundQueueSize || c.PublishRate != DefaultPublishRate ||
		c.MaxResponseSize != DefaultMaxResponseSize || len(c.ListenAddrs) != 2 || c.Logger == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	c = Config{PublishRate: -1}.withDefaults()
	if c.PublishRate != -1 {
		t.Fatalf("PublishRate -1 (pacing off) became %v", c.PublishRate)
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	if d := backoff(0, lo, hi); d != 0 {
		t.Fatalf("backoff(0) = %v, want 0", d)
	}
	for failures := 1; failures < 100; failures++ {
		want := min(lo<<min(failures-1, 30), hi)
		for range 20 {
			d := backoff(failures, lo, hi)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", failures, d, want/2, want)
			}
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"readings", "consensus/data", "sync/blocks/1", "a-b_c.d"} {
		if err := checkName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/readings", "readings/", "Readings", "a b", "ü", strings.Repeat("a", 65)} {
		if err := checkName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestKeyPeerIDRoundTrip(t *testing.T) {
	k := testKey(t, "roundtrip").Public()
	id, err := PeerIDFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	back, ok := KeyOfPeer(id)
	if !ok || back != k {
		t.Fatalf("KeyOfPeer(PeerIDFromKey(k)) = %s, %v; want %s", back.Short(), ok, k.Short())
	}
	if _, ok := KeyOfPeer("not a peer id"); ok {
		t.Fatal("KeyOfPeer accepted garbage")
	}
}

// TestPeerIDMatchesLibp2p holds PeerIDFromKey and KeyOfPeer, which build
// and read the bytes themselves, to libp2p's conversions: for many keys
// both ways, and for peer IDs of other key types (a secp256k1 key, also
// inlined; an RSA key, hashed), which are not node keys.
func TestPeerIDMatchesLibp2p(t *testing.T) {
	for i := 0; i < 200; i++ {
		k := testKey(t, fmt.Sprintf("peer-id-%d", i)).Public()
		pub, err := crypto.UnmarshalEd25519PublicKey(k[:])
		if err != nil {
			t.Fatal(err)
		}
		want, err := peer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := PeerIDFromKey(k)
		if err != nil || got != want {
			t.Fatalf("key %d: PeerIDFromKey = %s, %v; libp2p gives %s", i, got, err, want)
		}
		back, ok := KeyOfPeer(want)
		if !ok || back != k {
			t.Fatalf("key %d: KeyOfPeer(%s) = %s, %v", i, want, back.Short(), ok)
		}
	}
	for _, typ := range []int{crypto.Secp256k1, crypto.RSA} {
		_, pub, err := crypto.GenerateKeyPair(typ, 2048)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if k, ok := KeyOfPeer(id); ok {
			t.Errorf("KeyOfPeer took the %s peer ID %s for node key %s", pb.KeyType(typ), id, k.Short())
		}
	}
}

// TestGossipParams: every mesh degree Validate admits gives parameters
// gossipsub accepts (it refuses to start otherwise), and degree 6 is
// gossipsub's own default.
func TestGossipParams(t *testing.T) {
	if got, want := gossipParams(6), pubsub.DefaultGossipSubParams(); got != want {
		t.Errorf("gossipParams(6) = %+v, want gossipsub's defaults %+v", got, want)
	}
	for d := 2; d <= 16; d++ {
		p := gossipParams(d)
		if !(p.Dlo <= p.D && p.D <= p.Dhi && p.Dscore <= p.Dhi && p.Dout < p.Dlo && p.Dout < p.D/2 && p.Dout >= 0) {
			t.Errorf("gossipParams(%d) = D %d Dlo %d Dhi %d Dscore %d Dout %d: gossipsub refuses these", d, p.D, p.Dlo, p.Dhi, p.Dscore, p.Dout)
		}
	}
}
