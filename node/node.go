package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/genesis"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/config"
	"github.com/waterchain/waterchain/node/events"
	"github.com/waterchain/waterchain/node/images"
	"github.com/waterchain/waterchain/node/ingest"
	"github.com/waterchain/waterchain/node/mempool"
	"github.com/waterchain/waterchain/node/report"
	"github.com/waterchain/waterchain/node/web"
	"github.com/waterchain/waterchain/p2p"
)

// Roles a node can have, from its key's place in genesis.
const (
	RoleValidator = "validator"
	RoleAuditor   = "auditor"
	RoleObserver  = "observer"
)

// Options are what New needs. Home, Config, Genesis and Key are required.
type Options struct {
	Home    string // node home; relative storage paths are under it
	Config  *config.Config
	Genesis *genesis.Genesis
	Key     *chain.PrivateKey // the node key: libp2p identity and validator signing key
	Logger  *slog.Logger
	// Name is how logs and the status call this node (from genesis when
	// empty).
	Name string
	// Now is the clock (time.Now when nil); tests may fix it.
	Now func() time.Time
}

// Node is one running Waterchain node. See the package doc for its threads.
type Node struct {
	opts    Options
	cfg     *config.Config
	log     *slog.Logger
	gen     *genesis.Genesis
	genHash chain.Hash
	chainID string
	key     *chain.PrivateKey
	role    string
	name    string
	now     func() time.Time

	stateGen *state.Genesis
	kv       store.KV
	store    *store.Store
	state    *state.Cache // the committed state in memory; see statecache.go
	sigs     *sigCache
	door     *doorVerifier // signature checks of client entries; see verify.go
	readings *mempool.Readings
	txs      *mempool.Txs
	hub      *events.Hub
	metrics  *metrics
	registry *prometheus.Registry

	host   *p2p.Host
	topics gossipTopics
	// gossipOut coalesces the door's readings into gossip messages.
	gossipOut *gossipBatcher
	// proposals carries this node's proposals straight to its peers; see
	// proposals.go.
	proposals *p2p.Direct

	// consensusSeen holds the keys of consensus messages the engines took,
	// so that the gossip door drops their copies; see gossip.go.
	consensusSeen *sigCache
	// compact rebuilds compact proposals and serves their readings; see
	// compact.go.
	compact *compactState

	// The loop's inputs; see loop.go.
	msgCh   chan laneMessage
	timerCh chan laneTimer
	// relayCh brings back this node's votes sent to a round's proposer
	// relayFallback ago (voterelay.go).
	relayCh    chan *chain.Vote
	validCh    chan validation
	syncCh     chan syncBatch
	kickCh     chan struct{}
	evidenceCh chan *chain.Evidence
	loopDone   chan struct{}
	fatal      atomic.Pointer[error]

	// heads caches each lane's committed head for readers off the loop:
	// the store's head, which may be behind the loop's (tip).
	heads [3]atomic.Pointer[chain.Header]
	// writer stores the blocks consensus commits (commitwriter.go).
	writer *commitWriter
	// rounds caches each lane's consensus round, for the status call.
	rounds [3]atomic.Uint32
	// engineSet is, for each lane, the height its engine last started and
	// that height's validator set (votegather.go, voterelay.go).
	engineSet [3]atomic.Pointer[engineAt]
	// relay gathers the votes this node relays as a round's proposer.
	relay *voteRelay
	// syncing is set while the node fetches blocks from peers.
	syncing atomic.Bool
	// syncHints are peers consensus messages showed ahead (sync.go).
	syncHints syncHints
	// progress is block sync's report; see sync_progress.go.
	progress syncProgress
	// sent counts consensus messages published (see wireConsensus).
	sent atomic.Uint64

	drivers map[chain.Lane]*driver
	// sizer caps the data blocks this node proposes (blocksize.go); the
	// loop's.
	sizer     blockSizer
	submitted submitted
	dashboard http.Handler
	mqtt      *ingest.Broker
	alerts    *alerts.Engine // nil when disabled; used on the loop (DoorReject from any goroutine)
	alertLog  *alerts.Log
	alertCk   alertCheckpointer // alert checkpoints; see alerts_checkpoint.go
	owners    ownerCache        // device owners, for the alert rules (alerting.go)
	// alertContexts are the loop's memoized state reads for the alert
	// rules (loopContexts in alerting.go).
	alertContexts *stateContexts
	vsets         validatorSets  // validator sets of recent tx heights (chainstate.go)
	images        *images.Images // camera images beside the chain
	reports       report.Cache   // reports of settled periods; see Report in backend.go

	httpSrv  *http.Server
	adminSrv *http.Server // the admin socket; see admin.go
	apiLimit *api.Limiter // the API's connection caps and body budget
	apiAddr  string
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
	closed   sync.Once

	startClk startClock // New's and Start's phases, for the "node started" line
}

// New opens the node's store (creating the genesis state on first start)
// and prepares everything; Start makes it run.
func New(opts Options) (*Node, error) {
	if opts.Config == nil || opts.Genesis == nil || opts.Key == nil {
		return nil, errors.New("node: Config, Genesis and Key are required")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := opts.Genesis
	n := &Node{
		startClk: newStartClock(),
		opts:     opts, cfg: opts.Config, gen: g, genHash: g.Hash(), chainID: g.ChainID,
		key: opts.Key, now: opts.Now, hub: events.NewHub(),
		sigs:       newSigCache(1 << 20),
		readings:   mempool.NewReadings(opts.Config.Mempool.MaxReadings),
		txs:        mempool.NewTxs(opts.Config.Mempool.MaxTxs),
		msgCh:      make(chan laneMessage, 4096),
		timerCh:    make(chan laneTimer, 256),
		relayCh:    make(chan *chain.Vote, 16),
		validCh:    make(chan validation, 64),
		syncCh:     make(chan syncBatch, 4),
		kickCh:     make(chan struct{}, 1),
		evidenceCh: make(chan *chain.Evidence, 64),
		loopDone:   make(chan struct{}),
		drivers:    make(map[chain.Lane]*driver),
	}
	n.consensusSeen = newSigCache(consensusSeenMax)
	n.relay = newVoteRelay()
	n.readings.SetAdmission(mempool.Admission{
		Wait: opts.Config.Mempool.AdmitWait.Std(), Floor: opts.Config.Mempool.AdmitFloor, RateWindow: opts.Config.Mempool.RateWindow.Std(),
		Doors:        len(g.Validators), // the validators' doors share the window
		OverloadWait: opts.Config.Mempool.AdmitWaitOverPeak.Std(),
	})
	role, name, ok := g.RoleOf(opts.Key.Public())
	if !ok {
		role = RoleObserver
	}
	n.role = role
	n.name = opts.Name
	if n.name == "" {
		n.name = name
	}
	n.log = opts.Logger.With("node", n.name)
	var err error
	dir := opts.Config.Storage.DataDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(opts.Home, dir)
	}
	n.startClk.done("prepare")
	// The store is opened before anything else allocates: badger's
	// memtable arena (about 250 MB) is one allocation, which the Go
	// runtime must clear page by page when it lands on heap pages freed
	// before (the dashboard's compressors, for one): a second of CPU and
	// the whole arena resident at every start, 1.5–5 s at this machine's
	// load. On a fresh heap it is untouched until the memtable fills.
	if n.kv, err = store.OpenBadger(dir, store.BadgerOptions{Logger: n.log}); err != nil {
		return nil, err
	}
	n.startClk.done("badger")
	if n.stateGen, err = g.State(); err != nil {
		n.kv.Close()
		return nil, err
	}
	if n.store, err = store.Open(n.kv); err != nil {
		n.kv.Close()
		return nil, err
	}
	n.writer = newCommitWriter()
	n.startClk.done("store")
	if err := n.initGenesisState(); err != nil {
		n.kv.Close()
		return nil, err
	}
	n.startClk.done("genesis")
	if n.state, err = loadStateCache(n.store); err != nil {
		n.kv.Close()
		return nil, err
	}
	n.startClk.done("state")
	n.dashboard = web.Handler()
	n.registry = prometheus.NewRegistry()
	n.metrics = newMetrics(n.registry)
	n.compact = newCompactState(n.registry)
	registerAdmission(n.registry, n.readings)
	n.registerInfoMetrics()
	n.door = newDoorVerifier(opts.Config.Door.VerifyInFlight, opts.Config.Door.VerifyWorkers, func(k int) { n.metrics.doorSignatureChecks.Add(float64(k)) })
	n.startClk.done("serving_parts")
	for _, lane := range chain.Lanes {
		if h, ok := n.store.Head(lane); ok {
			n.heads[lane].Store(&h)
		}
	}
	if err := n.newImages(); err != nil {
		n.kv.Close()
		return nil, err
	}
	n.startClk.done("images")
	if err := n.startAlerts(); err != nil {
		n.kv.Close()
		return nil, err
	}
	n.startClk.done("alerts")
	return n, nil
}

// initGenesisState writes the genesis state into a fresh store, or checks
// that an existing store was made from this genesis.
func (n *Node) initGenesisState() error {
	changes, err := state.GenesisChanges(n.stateGen)
	if err != nil {
		return fmt.Errorf("genesis state: %w", err)
	}
	return n.store.InitGenesis(n.genHash, toStoreChanges(changes))
}

// Role is "validator", "auditor" or "observer".
func (n *Node) Role() string { return n.role }

// ChainID is the network's chain id.
func (n *Node) ChainID() string { return n.chainID }

// GenesisHash identifies the network.
func (n *Node) GenesisHash() chain.Hash { return n.genHash }

// Head returns the committed head of lane (zero header and false before
// the first block).
func (n *Node) Head(lane chain.Lane) (chain.Header, bool) {
	if h := n.heads[lane].Load(); h != nil {
		return *h, true
	}
	return chain.Header{}, false
}

// Height is the committed height of lane (0 before the first block).
func (n *Node) Height(lane chain.Lane) uint64 {
	if h := n.heads[lane].Load(); h != nil {
		return h.Height
	}
	return 0
}

// APIAddr is the address the HTTP API listens on, once started.
func (n *Node) APIAddr() string { return n.apiAddr }

// P2PAddrs are the node's full libp2p multiaddrs, once started.
func (n *Node) P2PAddrs() []string {
	if n.host == nil {
		return nil
	}
	return n.host.Addrs()
}

// Events is the node's event hub (blocks, alerts).
func (n *Node) Events() *events.Hub { return n.hub }

// Err returns the error that stopped the node, if one did.
func (n *Node) Err() error {
	if p := n.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// Done is closed when the node's loop has stopped, by Close or by a fatal
// error (see Err).
func (n *Node) Done() <-chan struct{} { return n.loopDone }

// Start joins the network, starts the consensus loop and the API server.
func (n *Node) Start(ctx context.Context) error {
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.startClk.done("until_start")
	if err := n.startP2P(); err != nil {
		n.cancel()
		return err
	}
	n.startClk.done("p2p")
	if err := n.startEngines(); err != nil {
		n.cancel()
		n.host.Close()
		return err
	}
	n.startClk.done("engines")
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		n.cancel()
		n.host.Close()
		return fmt.Errorf("api.listen %q: %w (is another node using the port? set --api-listen)", n.cfg.API.Listen, err)
	}
	n.apiAddr = ln.Addr().String()
	n.httpSrv, ln = n.apiServer(ln)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api server stopped", "err", err)
		}
	}()
	if err := n.startMQTT(); err != nil {
		n.cancel()
		n.httpSrv.Close()
		n.host.Close()
		return fmt.Errorf("mqtt.listen %q: %w", n.cfg.MQTT.Listen, err)
	}
	if err := n.startAdmin(); err != nil {
		n.log.Warn("admin socket unavailable; stop the node to back it up", "err", err)
	}
	n.wg.Add(1)
	go n.loop()
	n.startBackground()
	n.startClk.done("serve")
	n.log.Info("node started", "role", n.role, "chain_id", n.chainID, "api", "http://"+n.apiAddr,
		"p2p", n.host.Addrs(), "data_height", n.Height(chain.LaneData), "tx_height", n.Height(chain.LaneTx),
		"took", n.startClk.took(), "phases", n.startClk.String())
	return nil
}

// apiServer is the API's server with the limits of config api.limits, and
// ln wrapped to cap connections. WriteTimeout bounds each answer but the
// event stream's, which gets it per event instead (see api.Limiter).
func (n *Node) apiServer(ln net.Listener) (*http.Server, net.Listener) {
	l := n.cfg.API.Limits
	lim := api.NewLimiter(api.LimitOptions{
		MaxConns: l.MaxConns, MaxConnsPerClient: l.MaxConnsPerClient, ReservedConns: l.ReservedConns,
		MaxBodyBytes: l.MaxBodyBytes, MaxImageBytes: n.cfg.Images.MaxBytes,
		BodyBytes: l.BodyBytes, BodyBytesPerClient: l.BodyBytesPerClient,
		StreamWriteTimeout: l.WriteTimeout.Std(),
	})
	registerAPILimits(n.registry, lim)
	n.apiLimit = lim
	srv := &http.Server{
		Handler:           lim.Handler(n.httpHandler()),
		ReadHeaderTimeout: l.ReadHeaderTimeout.Std(),
		ReadTimeout:       l.ReadTimeout.Std(),
		WriteTimeout:      l.WriteTimeout.Std(),
		IdleTimeout:       l.IdleTimeout.Std(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	return srv, lim.Listener(ln)
}

// Close stops the node and waits for its goroutines; it is safe to call
// more than once.
func (n *Node) Close() error {
	n.closed.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		if n.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = n.httpSrv.Shutdown(ctx)
			cancel()
		}
		if n.adminSrv != nil {
			_ = n.adminSrv.Close()
		}
		if n.mqtt != nil {
			n.mqtt.Close()
		}
		if n.gossipOut != nil {
			n.gossipOut.close()
		}
		if n.host != nil {
			n.host.Close()
		}
		n.wg.Wait()
		n.closeAlerts()
		n.closeEngines()
		if n.kv != nil {
			n.closeErr = n.kv.Close()
		}
	})
	return n.closeErr
}

// stop records a fatal error and stops the loop; the caller of Run sees it
// through Err and Done.
func (n *Node) stop(err error) {
	if n.fatal.CompareAndSwap(nil, &err) {
		n.log.Error("node stopped", "err", err)
		n.cancel()
	}
}

// newImages builds the node's image store (package images) over its KV,
// with its limits and the node's parts it reads: the chain store, the
// reading mempool, the p2p host once Start has made it, the alert log
// when alerts are enabled, and the node's clock.
func (n *Node) newImages() error {
	var sink images.AlertSink
	if n.cfg.Alerts.Enabled {
		sink = imageAlertSink{n}
	}
	im, err := images.New(n.kv, images.Config{
		MaxBytes: int(n.cfg.Images.MaxBytes),
		// A reading may be timed a window after its acceptance, and be
		// final in a block timed a window after the reading.
		OrphanGrace: 2*n.gen.Params.ReadingWindow.Std() + images.ClockMargin,
	}, images.Deps{
		Chain: n.store, Pool: n.readings, Peers: imagePeers{n}, Alerts: sink,
		Clock: images.ClockFunc(n.now), Logger: n.log,
	})
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	for _, c := range im.Collectors() {
		if err := n.registry.Register(c); err != nil {
			return fmt.Errorf("images metrics: %w", err)
		}
	}
	n.images = im
	return nil
}

var (
	_ images.Chain = (*store.Store)(nil)
	_ images.Pool  = (*mempool.Readings)(nil)
	_ images.Peers = (*p2p.Host)(nil)
)

// imagePeers is the p2p host for package images; the host exists once
// Start has run, before the fetcher does.
type imagePeers struct{ n *Node }

func (p imagePeers) Peers() []chain.PubKey {
	if p.n.host == nil {
		return nil
	}
	return p.n.host.Peers()
}

func (p imagePeers) Request(ctx context.Context, peer chain.PubKey, protocol string, req []byte) ([]byte, error) {
	return p.n.host.Request(ctx, peer, protocol, req)
}

// imageAlertSink puts image alerts in the node's alert log, with the
// device's industry as of the tx head.
type imageAlertSink struct{ n *Node }

func (s imageAlertSink) Context(dev chain.PubKey) alerts.DeviceContext {
	return s.n.deviceContext(dev, s.n.Height(chain.LaneTx))
}

func (s imageAlertSink) Raise(as []alerts.Alert) { s.n.raise(as) }

// replayImageAlerts merges the image alerts re-derived from the stored
// images (images.ReplayAlerts) into the alert log by time. Called by
// startAlerts after the chain replay, before anything else uses the log.
func (n *Node) replayImageAlerts() {
	start := time.Now()
	raised, err := n.images.ReplayAlerts()
	if err != nil {
		n.log.Error("image alerts: replay incomplete", "err", err)
	}
	if len(raised) == 0 {
		return
	}
	chainAlerts := n.alertLog.List(alerts.Filter{})
	slices.Reverse(chainAlerts) // oldest first
	log := alerts.NewLog(maxAlertsKept)
	log.Add(images.MergeAlertsByTime(chainAlerts, raised)...)
	n.alertLog = log
	n.log.Info("image alerts replayed from stored images", "alerts", len(raised), "took", time.Since(start).Round(time.Millisecond))
}
