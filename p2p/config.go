package p2p

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
)

// DefaultListenAddrs are used when Config.ListenAddrs is empty: TCP and QUIC
// on every interface, port 26656.
var DefaultListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/26656",
	"/ip4/0.0.0.0/udp/26656/quic-v1",
}

// Defaults for the zero fields of Config. The gossip queue sizes and the
// publish rate come from TestBurst (WATERCHAIN_P2P_BURST=1): see doc.go.
const (
	DefaultReconnectMin          = time.Second
	DefaultReconnectMax          = time.Minute
	DefaultHandshakeTimeout      = 10 * time.Second
	DefaultMaxMessageSize        = 4 << 20
	DefaultOutboundQueueSize     = 32768
	DefaultValidateQueueSize     = 32768
	DefaultSubscriptionBuffer    = 32768
	DefaultPublishRate           = 2000
	DefaultPublishBurst          = 1000
	DefaultMaxRequestSize        = 1 << 20
	DefaultMaxResponseSize       = 64 << 20
	DefaultRequestTimeout        = 30 * time.Second
	DefaultMaxConcurrentRequests = 32
	DefaultScoreInspectPeriod    = 10 * time.Second
	DefaultMeshDegree            = 3

	maxNetworkIDLen = 256
)

// Config configures a Host. Zero numeric and duration fields take the
// Default* values; PrivateKey and NetworkID are required.
type Config struct {
	// PrivateKey is the node key; it is also the libp2p identity, so peers
	// know this host by the node key named in genesis.
	PrivateKey ed25519.PrivateKey
	// ListenAddrs are multiaddrs to listen on, TCP and QUIC, e.g.
	// "/ip4/0.0.0.0/tcp/26656" and "/ip4/0.0.0.0/udp/26656/quic-v1".
	ListenAddrs []string
	// ExternalAddrs, when set, are the multiaddrs the host announces to
	// peers instead of the addresses it listens on: its public IP or DNS
	// name and port, for a host behind NAT, a load balancer or a container
	// port mapping ("/dns4/node.example.org/tcp/26656"). No /p2p suffix;
	// see CheckExternalAddr.
	ExternalAddrs []string
	// Bootstrap are multiaddrs with a /p2p/ID suffix; the host keeps a
	// connection to each, redialing with capped exponential backoff.
	Bootstrap []string
	// AllowedKeys are the node keys admitted by the connection gater: the
	// validators, auditors and observers named in genesis. UpdateAllowed
	// replaces them.
	AllowedKeys []chain.PubKey
	// NetworkID names the network: chain id and genesis hash. Gossip topics
	// and protocols are namespaced by it, and a peer presenting another one
	// in the handshake is disconnected.
	NetworkID string
	// MDNS asks for LAN discovery. It is not available in this build (the
	// module github.com/libp2p/zeroconf/v2 is not in go.mod); Validate
	// rejects it rather than silently ignore it.
	MDNS bool
	// Logger receives the host's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the host's metrics (and go-libp2p's); nil
	// registers nothing.
	Registerer prometheus.Registerer

	// ReconnectMin and ReconnectMax bound the backoff between dials to a
	// bootstrap peer: it doubles per failure from ReconnectMin up to
	// ReconnectMax, with jitter.
	ReconnectMin, ReconnectMax time.Duration
	// HandshakeTimeout bounds the network-id handshake on a new connection.
	HandshakeTimeout time.Duration

	// MaxMessageSize bounds one gossip message (and one gossipsub RPC).
	MaxMessageSize int
	// OutboundQueueSize is gossipsub's per-peer outbound queue, in RPCs;
	// ValidateQueueSize its queue of received messages awaiting validation;
	// SubscriptionBuffer the per-topic buffer of validated messages awaiting
	// the reader. gossipsub drops (and counts in the metrics) when any is
	// full; it never blocks the sender.
	OutboundQueueSize, ValidateQueueSize, SubscriptionBuffer int
	// PublishRate (messages per second) and PublishBurst pace
	// Topic.Publish across all paced topics of the host, since gossipsub
	// gives no backpressure. PublishRate < 0 disables pacing.
	PublishRate  float64
	PublishBurst int

	// MaxRequestSize and MaxResponseSize bound request/response frames.
	MaxRequestSize, MaxResponseSize int
	// RequestTimeout bounds a request whose context has no deadline, and
	// the time a handler's reply may take to be read and written.
	RequestTimeout time.Duration
	// MaxConcurrentRequests bounds the requests served at once; more are
	// answered with ErrBusy.
	MaxConcurrentRequests int

	// MeshDegree is gossipsub's D: the peers each node forwards a message
	// to, beside the author's flood publish to every peer (bounds: D-1 to
	// 2D, see gossipParams). The default, 3, is half gossipsub's: see
	// doc.go for what the copies cost.
	MeshDegree int

	// ScoreInspectPeriod is how often gossip peer scores are sampled (for
	// PeerScore and for disconnecting graylisted peers).
	ScoreInspectPeriod time.Duration

	// libp2pSigning turns gossipsub's own per-message signatures back on;
	// only the burst experiment uses it, to measure what they cost.
	libp2pSigning bool
}

func (c Config) withDefaults() Config {
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = DefaultListenAddrs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&c.ReconnectMin, DefaultReconnectMin)
	setDefault(&c.ReconnectMax, DefaultReconnectMax)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.MaxMessageSize, DefaultMaxMessageSize)
	setDefault(&c.OutboundQueueSize, DefaultOutboundQueueSize)
	setDefault(&c.ValidateQueueSize, DefaultValidateQueueSize)
	setDefault(&c.SubscriptionBuffer, DefaultSubscriptionBuffer)
	setDefault(&c.PublishRate, DefaultPublishRate)
	setDefault(&c.PublishBurst, DefaultPublishBurst)
	setDefault(&c.MaxRequestSize, DefaultMaxRequestSize)
	setDefault(&c.MaxResponseSize, DefaultMaxResponseSize)
	setDefault(&c.RequestTimeout, DefaultRequestTimeout)
	setDefault(&c.MaxConcurrentRequests, DefaultMaxConcurrentRequests)
	setDefault(&c.ScoreInspectPeriod, DefaultScoreInspectPeriod)
	setDefault(&c.MeshDegree, DefaultMeshDegree)
	return c
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate reports the first field of c (after defaults) that is wrong,
// wrapping ErrConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	if len(c.PrivateKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: PrivateKey: want %d bytes, got %d", ErrConfig, ed25519.PrivateKeySize, len(c.PrivateKey))
	}
	if c.NetworkID == "" || len(c.NetworkID) > maxNetworkIDLen {
		return fmt.Errorf("%w: NetworkID: want 1 to %d bytes (chain id and genesis hash), got %d", ErrConfig, maxNetworkIDLen, len(c.NetworkID))
	}
	for i, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("%w: ListenAddrs[%d] %q: %v", ErrConfig, i, s, err)
		}
	}
	for i, s := range c.ExternalAddrs {
		if err := CheckExternalAddr(s); err != nil {
			return fmt.Errorf("%w: ExternalAddrs[%d]: %v", ErrConfig, i, err)
		}
	}
	for i, s := range c.Bootstrap {
		if _, err := peer.AddrInfoFromString(s); err != nil {
			return fmt.Errorf("%w: Bootstrap[%d] %q: want a multiaddr ending in /p2p/<peer id>: %v", ErrConfig, i, s, err)
		}
	}
	if c.MDNS {
		return fmt.Errorf("%w: MDNS: mDNS discovery is not built in (it needs github.com/libp2p/zeroconf/v2); list peers in Bootstrap", ErrConfig)
	}
	if c.MeshDegree < 2 {
		return fmt.Errorf("%w: MeshDegree: %d, want at least 2 (gossipsub needs an outbound quota below D/2)", ErrConfig, c.MeshDegree)
	}
	if c.ReconnectMin < 0 || c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("%w: ReconnectMin %v, ReconnectMax %v: want 0 < min <= max", ErrConfig, c.ReconnectMin, c.ReconnectMax)
	}
	positive := []struct {
		name string
		v    int64
	}{
		{"HandshakeTimeout", int64(c.HandshakeTimeout)},
		{"MaxMessageSize", int64(c.MaxMessageSize)},
		{"OutboundQueueSize", int64(c.OutboundQueueSize)},
		{"ValidateQueueSize", int64(c.ValidateQueueSize)},
		{"SubscriptionBuffer", int64(c.SubscriptionBuffer)},
		{"PublishBurst", int64(c.PublishBurst)},
		{"MaxRequestSize", int64(c.MaxRequestSize)},
		{"MaxResponseSize", int64(c.MaxResponseSize)},
		{"RequestTimeout", int64(c.RequestTimeout)},
		{"MaxConcurrentRequests", int64(c.MaxConcurrentRequests)},
		{"ScoreInspectPeriod", int64(c.ScoreInspectPeriod)},
	}
	for _, f := range positive {
		if f.v <= 0 {
			return fmt.Errorf("%w: %s: want > 0, got %d", ErrConfig, f.name, f.v)
		}
	}
	if c.MaxResponseSize > math.MaxUint32 || c.MaxRequestSize > math.MaxUint32 {
		return fmt.Errorf("%w: MaxRequestSize %d, MaxResponseSize %d: frames carry a 32-bit length", ErrConfig, c.MaxRequestSize, c.MaxResponseSize)
	}
	if math.IsNaN(c.PublishRate) {
		return fmt.Errorf("%w: PublishRate: NaN", ErrConfig)
	}
	return nil
}
