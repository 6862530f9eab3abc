package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/waterchain/waterchain/chain"
)

// Host is a node's libp2p endpoint: a permissioned host, its gossip topics
// and its request/response protocols. Its methods are safe for concurrent
// use. Close stops every goroutine it started.
type Host struct {
	cfg     Config
	log     *slog.Logger
	key     chain.PubKey
	h       host.Host
	ps      *pubsub.PubSub
	gater   *gater
	metrics *metrics
	// prefix namespaces topics and protocols by network:
	// "/waterchain/<first 8 bytes of SHA-256(NetworkID), hex>/".
	prefix  string
	limiter *rate.Limiter // nil when pacing is off
	boot    map[peer.ID]*bootPeer
	reqSem  chan struct{}
	// graylisted carries peers whose gossip score fell below the graylist
	// threshold from the score inspector to the goroutine disconnecting them.
	graylisted chan peer.ID

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards closed, verified, changed, topics, handlers
	closed   bool
	verified map[peer.ID]struct{}
	changed  chan struct{} // closed and replaced when verified changes
	topics   map[string]*Topic
	handlers map[string]struct{}

	scoresMu sync.Mutex // guards scores
	scores   map[peer.ID]float64
}

// New starts a host listening on cfg.ListenAddrs and dialing cfg.Bootstrap.
// The context bounds only the start-up; Close stops the host.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sk, pub, err := identity(cfg.PrivateKey)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	tag := sha256.Sum256([]byte(cfg.NetworkID))
	hctx, cancel := context.WithCancel(context.Background())
	n := &Host{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "p2p", "self", pub.Short()),
		key:        pub,
		metrics:    m,
		prefix:     "/waterchain/" + hex.EncodeToString(tag[:8]) + "/",
		boot:       make(map[peer.ID]*bootPeer),
		reqSem:     make(chan struct{}, cfg.MaxConcurrentRequests),
		graylisted: make(chan peer.ID, 64),
		ctx:        hctx,
		cancel:     cancel,
		verified:   make(map[peer.ID]struct{}),
		changed:    make(chan struct{}),
		topics:     make(map[string]*Topic),
		handlers:   make(map[string]struct{}),
		scores:     make(map[peer.ID]float64),
	}
	if cfg.PublishRate > 0 && !math.IsInf(cfg.PublishRate, 1) {
		n.limiter = rate.NewLimiter(rate.Limit(cfg.PublishRate), cfg.PublishBurst)
	}
	n.gater, err = newGater(cfg.AllowedKeys, n.onDenied)
	if err != nil {
		cancel()
		return nil, err
	}

	opts := []libp2p.Option{
		libp2p.Identity(sk),
		// Listen only once the hello handler and the connection
		// notifications are in place (below), so no peer gets in unseen.
		libp2p.NoListenAddrs,
		// No SO_REUSEPORT on TCP: with it, a second node started on the
		// same port binds too and the kernel splits connections between
		// the two. (QUIC keeps it: it dials from its listening socket, and
		// without reuseport go-libp2p v0.51 leaves its per-dial QUIC
		// transports running after Close, as goleak showed. A node
		// listening on TCP and QUIC fails on the TCP port first.)
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ConnectionGater(n.gater),
		libp2p.DisableRelay(),
		libp2p.UserAgent("waterchain"),
	}
	if len(cfg.ExternalAddrs) > 0 {
		external := make([]ma.Multiaddr, len(cfg.ExternalAddrs))
		for i, a := range cfg.ExternalAddrs {
			if external[i], err = ma.NewMultiaddr(a); err != nil {
				cancel()
				return nil, fmt.Errorf("%w: ExternalAddrs[%d] %q: %v", ErrConfig, i, a, err)
			}
		}
		opts = append(opts, libp2p.AddrsFactory(announceExactly(external)))
	}
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(withoutRcmgr{cfg.Registerer}))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	rm, err := newResourceManager()
	if err != nil {
		cancel()
		return nil, err
	}
	opts = append(opts, libp2p.ResourceManager(rm))
	n.h, err = libp2p.New(opts...)
	if err != nil {
		rm.Close()
		cancel()
		return nil, fmt.Errorf("p2p: start libp2p host: %w", err)
	}
	fail := func(err error) (*Host, error) {
		n.Close()
		return nil, err
	}

	n.ps, err = pubsub.NewGossipSub(hctx, n.h, n.pubsubOptions()...)
	if err != nil {
		return fail(fmt.Errorf("p2p: start gossipsub: %w", err))
	}
	n.h.SetStreamHandler(helloProtocol, n.serveHello)
	n.h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.onConnected(c) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onDisconnected(c) },
	})
	n.spawn(n.disconnectGraylisted)
	listen := make([]ma.Multiaddr, len(cfg.ListenAddrs))
	for i, a := range cfg.ListenAddrs {
		if listen[i], err = ma.NewMultiaddr(a); err != nil {
			return fail(fmt.Errorf("%w: ListenAddrs[%d] %q: %v", ErrConfig, i, a, err))
		}
	}
	if err := n.h.Network().Listen(listen...); err != nil {
		return fail(fmt.Errorf("p2p: listen on %v: %w", cfg.ListenAddrs, err))
	}
	if err := n.startBootstrap(); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	n.log.Info("p2p host started", "peer_id", n.h.ID(), "listen", n.h.Network().ListenAddresses(),
		"announced", n.h.Addrs(), "external_set", len(cfg.ExternalAddrs) > 0, "network", cfg.NetworkID)
	if hint := unreachableHint(n.h.Addrs(), cfg.Bootstrap); hint != "" {
		n.log.Warn(hint)
	}
	return n, nil
}

// Close stops the host: it closes every topic and connection and waits for
// the goroutines it started. It is idempotent.
func (n *Host) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	topics := make([]*Topic, 0, len(n.topics))
	for _, t := range n.topics {
		topics = append(topics, t)
	}
	n.mu.Unlock()

	for _, t := range topics {
		t.Close()
	}
	n.cancel()
	if n.h != nil {
		if err := n.h.Close(); err != nil {
			n.log.Warn("closing libp2p host", "err", err)
		}
	}
	n.wg.Wait()
}

// spawn runs f in a goroutine that Close waits for and reports whether it
// did: after Close it does nothing.
func (n *Host) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Go(f)
	return true
}

// track counts a goroutine libp2p started (a stream handler) for Close to
// wait for; it reports false after Close, and otherwise the caller must call
// n.wg.Done when it returns.
func (n *Host) track() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// ID is the host's libp2p peer ID (derived from the node key).
func (n *Host) ID() peer.ID { return n.h.ID() }

// Key is the host's node key.
func (n *Host) Key() chain.PubKey { return n.key }

// Addrs returns the addresses the host announces to peers, each with its
// /p2p/ID suffix, ready for another node's Bootstrap list: its
// Config.ExternalAddrs when set, else the addresses it listens on (an
// unspecified listen address expanded to every interface's).
func (n *Host) Addrs() []string {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// Peers returns the node keys of the connected peers that passed the
// network-id handshake.
func (n *Host) Peers() []chain.PubKey {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]chain.PubKey, 0, len(n.verified))
	for id := range n.verified {
		if k, ok := KeyOfPeer(id); ok {
			out = append(out, k)
		}
	}
	return out
}

// Connected reports whether the peer with node key k is connected and
// passed the handshake.
func (n *Host) Connected(k chain.PubKey) bool {
	id, err := PeerIDFromKey(k)
	if err != nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.verified[id]
	return ok
}

// UpdateAllowed replaces the keys the connection gater admits (after a
// validator-set change) and disconnects connected peers no longer in it.
func (n *Host) UpdateAllowed(keys []chain.PubKey) error {
	if err := n.gater.set(keys); err != nil {
		return err
	}
	for _, id := range n.h.Network().Peers() {
		if !n.gater.allows(id) {
			n.disconnect(id, "not_allowed", "peer's key was removed from the allowed keys")
		}
	}
	return nil
}

// PeerScore returns the last sampled gossip score of the peer with node key
// k (sampled every Config.ScoreInspectPeriod) and whether there is one.
func (n *Host) PeerScore(k chain.PubKey) (float64, bool) {
	id, err := PeerIDFromKey(k)
	if err != nil {
		return 0, false
	}
	n.scoresMu.Lock()
	defer n.scoresMu.Unlock()
	s, ok := n.scores[id]
	return s, ok
}

func (n *Host) disconnect(id peer.ID, reason, detail string) {
	k, _ := KeyOfPeer(id)
	n.log.Warn("disconnecting peer", "peer", k.Short(), "peer_id", id, "reason", reason, "detail", detail)
	n.metrics.disconnects.WithLabelValues(reason).Inc()
	if err := n.h.Network().ClosePeer(id); err != nil {
		n.log.Debug("closing peer", "peer_id", id, "err", err)
	}
}

func (n *Host) onDenied(dir network.Direction, id peer.ID) {
	d := "inbound"
	if dir == network.DirOutbound {
		d = "outbound"
	}
	n.metrics.denied.WithLabelValues(d).Inc()
	n.log.Info("refused peer whose key is not allowed", "peer_id", id, "direction", d)
}

func (n *Host) onConnected(c network.Conn) {
	id := c.RemotePeer()
	if c.Stat().Direction == network.DirOutbound {
		n.spawn(func() { n.sayHello(id) })
	} else {
		n.spawn(func() { n.awaitHello(id) })
	}
}

func (n *Host) onDisconnected(c network.Conn) {
	id := c.RemotePeer()
	if n.h.Network().Connectedness(id) == network.Connected {
		return
	}
	n.mu.Lock()
	_, was := n.verified[id]
	if was {
		delete(n.verified, id)
		n.peersChangedLocked()
	}
	n.mu.Unlock()
	if was {
		k, _ := KeyOfPeer(id)
		n.log.Info("peer disconnected", "peer", k.Short())
	}
	if bp := n.boot[id]; bp != nil {
		bp.poke()
	}
}

func (n *Host) markVerified(id peer.ID) {
	if n.h.Network().Connectedness(id) != network.Connected {
		return
	}
	n.mu.Lock()
	_, was := n.verified[id]
	n.verified[id] = struct{}{}
	// The connection may have closed since the check above, with
	// onDisconnected already run: check again now that the entry is visible.
	if n.h.Network().Connectedness(id) != network.Connected {
		delete(n.verified, id)
		if was {
			n.peersChangedLocked()
		}
		n.mu.Unlock()
		return
	}
	if !was {
		n.peersChangedLocked()
	}
	n.mu.Unlock()
	if bp := n.boot[id]; bp != nil {
		bp.verified.Store(true)
	}
	if !was {
		k, _ := KeyOfPeer(id)
		n.log.Info("peer connected", "peer", k.Short())
	}
}

// peersChangedLocked publishes a change of the verified set; n.mu is held.
func (n *Host) peersChangedLocked() {
	n.metrics.peers.Set(float64(len(n.verified)))
	close(n.changed)
	n.changed = make(chan struct{})
}

// PeersChanged returns a channel that is closed at the next change of
// Peers: wait on it, then call Peers again.
func (n *Host) PeersChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

func (n *Host) isVerified(id peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.verified[id]
	return ok
}

// newResourceManager is go-libp2p's default resource manager (the same
// limits, scaled to the machine) without its Prometheus statistics. Those
// are kept whatever libp2p's metrics option says and cost a trace event,
// labels and a metric update on every stream and connection opened or
// closed: 5% of 16 idle validators' CPU, for libp2p_rcmgr_* series that
// neither the dashboard nor deploy/'s Grafana board reads. libp2p's other
// series (swarm, identify, event bus) stay on the Registerer. The host
// closes the manager.
func newResourceManager() (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// withoutRcmgr is a Registerer that leaves out the resource manager's
// collectors, which libp2p registers whenever its metrics are on: with its
// statistics off (newResourceManager) they would only serve zeros.
type withoutRcmgr struct{ prometheus.Registerer }

func (r withoutRcmgr) Register(c prometheus.Collector) error {
	if isRcmgrCollector(c) {
		return nil
	}
	return r.Registerer.Register(c)
}

func (r withoutRcmgr) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// isRcmgrCollector reports whether every series c describes is one of the
// resource manager's (libp2p_rcmgr_*). A Desc shows its name only in its
// String form.
func isRcmgrCollector(c prometheus.Collector) bool {
	ch := make(chan *prometheus.Desc, 16)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	some, all := false, true
	for d := range ch {
		some = true
		all = all && strings.Contains(d.String(), `fqName: "libp2p_rcmgr_`)
	}
	return some && all
}

// listenMultiaddrs is used by tests that restart a host on the same port.
func (n *Host) listenMultiaddrs() []ma.Multiaddr { return n.h.Network().ListenAddresses() }
