package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pelletier/go-toml/v2"

	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/p2p"
)

// Defaults of the node's listening addresses.
const (
	DefaultP2PListen  = "/ip4/0.0.0.0/tcp/26656"
	DefaultAPIListen  = "127.0.0.1:7070"
	DefaultMQTTListen = "127.0.0.1:1883"
)

// Bounds of the sizes Validate accepts.
const (
	MaxMempoolReadings = 10_000_000
	MaxMempoolTxs      = 1_000_000
	MaxImageBytes      = 64 << 20
	MaxFileSize        = 1 << 20
	// MaxMQTTTokenWindowSeconds bounds mqtt.token_window_seconds: a token
	// seen on the wire stays usable, once, for this long.
	MaxMQTTTokenWindowSeconds = 3600
	// MaxAPIBodyBytes is the largest api.limits.max_body_bytes: the API
	// reads a body whole before decoding it.
	MaxAPIBodyBytes = 64 << 20
	// MaxAPITimeout bounds the API's timeouts.
	MaxAPITimeout = Duration(time.Hour)
	// DefaultRelayVotesFrom is p2p.relay_votes_from's default, chosen by
	// measurement (docs/performance-log.md, 5 December): at 10
	// validators relaying cost no latency, at 16 on two cores it cut the
	// CPU of a height by a sixth. MinRelayVotesFrom is its least value
	// but 0.
	DefaultRelayVotesFrom = 10
	MinRelayVotesFrom     = 4
	// DefaultDirectReadingsFrom is p2p.direct_readings_from's default.
	DefaultDirectReadingsFrom = 10
	// DefaultDirectProposalsFrom is p2p.direct_proposals_from's default,
	// chosen by measurement (docs/performance-log.md, 5 December): at 10
	// and 16 validators on two cores direct proposals cut the nodes' CPU
	// by a tenth; at 4 they changed nothing.
	DefaultDirectProposalsFrom = 10
	// MaxMeshDegree bounds p2p.mesh_degree: gossipsub's own default is 6,
	// and every unit adds a copy of each gossiped message per node.
	MaxMeshDegree = 32
)

// DefaultMQTTTokenWindowSeconds is mqtt.token_window_seconds of a fresh
// config (ingest.DefaultTokenWindow).
const DefaultMQTTTokenWindowSeconds = 120

// Config is the content of config.toml.
type Config struct {
	P2P     P2P     `toml:"p2p"`
	API     API     `toml:"api"`
	MQTT    MQTT    `toml:"mqtt"`
	Log     Log     `toml:"log"`
	Mempool Mempool `toml:"mempool"`
	Door    Door    `toml:"door"`
	Images  Images  `toml:"images"`
	Alerts  Alerts  `toml:"alerts"`
	Storage Storage `toml:"storage"`
}

// P2P is the libp2p host.
type P2P struct {
	Listen []string `toml:"listen" comment:"multiaddrs the node listens on, such as \"/ip4/0.0.0.0/tcp/26656\" or \"/ip6/::/tcp/26656\""`
	// ExternalAddresses, when set, are announced to peers instead of the
	// listen addresses: what reaches a node behind NAT, a port mapping or a
	// load balancer. Empty announces the listen addresses (an unspecified
	// one expanded to every interface's).
	ExternalAddresses []string `toml:"external_addresses" comment:"multiaddrs announced to peers instead of the listen addresses, for a node behind NAT or a port mapping: its public IP or DNS name and port, such as \"/dns4/node.example.org/tcp/26656\"; empty announces the listen addresses"`
	Bootstrap         []string `toml:"bootstrap" comment:"peers dialled at start, with their peer IDs: \"/ip4/10.0.0.2/tcp/26656/p2p/12D3KooW...\"; DNS names work too: \"/dns4/val1.example.org/tcp/26656/p2p/12D3KooW...\""`
	MDNS              bool     `toml:"mdns" comment:"find peers on the local network by mDNS"`
	// CompactProposals sends this node's data-lane proposals with their
	// readings named by hash (peers rebuild them from their mempools and
	// fetch what they miss). Every node receives both forms; turn it off
	// while nodes of a release without compact proposals remain.
	CompactProposals bool `toml:"compact_proposals" comment:"send data-lane proposals naming their readings by hash instead of carrying them (peers hold them from gossip and fetch what they miss); every node of the network must run a release that receives them"`
	// DirectProposals sends this node's proposals straight to its
	// connected peers, by gossip only while it is not connected to every
	// validator (node/proposals.go), whatever the size of the set; else
	// they go so from DirectProposalsFrom validators. Every node receives
	// them either way.
	DirectProposals bool `toml:"direct_proposals" comment:"send this node's consensus proposals straight to each connected peer instead of by gossip (gossip still while not connected to every validator) in validator sets of any size; every node receives both"`
	// DirectProposalsFrom is the size of validator set from which this
	// node sends its proposals as DirectProposals does; 0 never.
	DirectProposalsFrom int `toml:"direct_proposals_from" comment:"validator sets of at least this many have the proposer send its proposals straight to each connected peer instead of by gossip (gossip still while not connected to every validator); 0 = never (unless direct_proposals)"`
	// RelayVotesFrom is the size of validator set from which this node
	// sends its votes for a block through the round's proposer, and
	// relays them when it proposes (node/voterelay.go); 0 never.
	RelayVotesFrom int `toml:"relay_votes_from" comment:"validator sets of at least this many send each vote for a block to the round's proposer, which passes on a quorum of them in one message (fewer messages a height, a hop more); 0 = never; every node of the network must run a release that receives relayed votes"`
	// DirectReadingsFrom is the size of validator set from which this
	// node's door sends the readings it admits straight to each peer, not
	// by gossip, while connected to every validator
	// (node/readings_direct.go); 0 never.
	DirectReadingsFrom int `toml:"direct_readings_from" comment:"validator sets of at least this many have each door send the readings it admits straight to each peer (one copy each, signatures checked in batches across peers) instead of by gossip, while it is connected to every validator; 0 = never; every node of the network must run a release that receives them"`
	// MeshDegree is gossipsub's D (p2p.Config.MeshDegree); 0 takes
	// p2p.DefaultMeshDegree. A network whose nodes are not all connected
	// to each other may want more.
	MeshDegree int `toml:"mesh_degree" comment:"peers each node forwards a gossiped message to, beside the author's send to every peer (gossipsub's D; 0 = the default, 3); raise it where nodes are not all connected to each other, at the cost of more copies of each message"`
}

// API is the HTTP API and dashboard.
type API struct {
	Listen string    `toml:"listen" comment:"host:port of the HTTP API and dashboard; keep it on loopback unless a proxy guards it"`
	Limits APILimits `toml:"limits" comment:"what one client, and all of them together, may hold of the API (see README, Operating a node)"`
}

// APILimits bound what clients may hold of the API server: how long a
// connection may take, how many there may be, and how many body bytes may
// be in memory at once. A client is an IP address.
type APILimits struct {
	ReadHeaderTimeout  Duration `toml:"read_header_timeout" comment:"longest a client may take to send a request's headers"`
	ReadTimeout        Duration `toml:"read_timeout" comment:"longest a client may take to send a whole request, body included"`
	WriteTimeout       Duration `toml:"write_timeout" comment:"longest from a request's headers to the end of its answer; /v1/events instead gets this long for each event it sends"`
	IdleTimeout        Duration `toml:"idle_timeout" comment:"longest a kept-alive connection may wait for its next request"`
	MaxConns           int      `toml:"max_conns" comment:"open connections, all clients together; more are answered 503 at once and closed"`
	MaxConnsPerClient  int      `toml:"max_conns_per_client" comment:"open connections of one client IP (behind a proxy every client is the proxy: raise it to max_conns)"`
	ReservedConns      int      `toml:"reserved_conns" comment:"of max_conns, kept for clients holding at most 2 connections (status probes, dashboards) when the rest are taken"`
	MaxBodyBytes       int64    `toml:"max_body_bytes" comment:"largest body of POST /v1/readings and /v1/txs; a longer declared length is refused (413) before it is read"`
	BodyBytes          int64    `toml:"body_bytes" comment:"request body bytes being read or decoded at once, all clients together; past it, 429 with Retry-After before the body is read"`
	BodyBytesPerClient int64    `toml:"body_bytes_per_client" comment:"request body bytes being read or decoded at once for one client IP"`
}

// Door bounds the signature checks of readings and transactions arriving
// from clients (HTTP and MQTT), so that a flood of them cannot take the
// CPU that block validation needs.
type Door struct {
	VerifyInFlight int `toml:"verify_in_flight" comment:"entries (readings, transactions) whose signatures may be waiting or being checked at once; past it, 429 with Retry-After"`
	VerifyWorkers  int `toml:"verify_workers" comment:"goroutines checking client signatures at once; 0 means one fewer than the CPUs (at least 1), leaving a core to block validation"`
}

// MQTT is the MQTT broker through which meters may push readings.
// Meters authenticate with their device key (username: the key in hex,
// password: a fresh signed token; see node/ingest/README.md).
type MQTT struct {
	Enabled            bool   `toml:"enabled" comment:"run an MQTT broker for meters"`
	Listen             string `toml:"listen" comment:"host:port of the MQTT broker"`
	AllowAnonymous     bool   `toml:"allow_anonymous" comment:"let clients connect without credentials (legacy meters only): they may publish to any meter's readings topic and read every meter's results; readings stay signature-checked"`
	TokenWindowSeconds int    `toml:"token_window_seconds" comment:"how far, in seconds, a meter's token time may be from this node's clock"`
}

// Log is the node's structured log (log/slog) on standard error.
type Log struct {
	Level  string `toml:"level" comment:"debug, info, warn or error"`
	Format string `toml:"format" comment:"text or json"`
}

// Mempool bounds the entries waiting to be proposed. A full mempool refuses
// new entries (HTTP 429 with Retry-After, code mempool_full) rather than
// grow. Readings from clients are admitted by what the network finalizes
// (node/mempool.Admission): at most AdmitWait of the recent finalized rate
// may wait (AdmitWaitOverPeak while the network is over its peak), at
// least AdmitFloor, at most MaxReadings.
type Mempool struct {
	MaxReadings       int      `toml:"max_readings" comment:"readings waiting for a data block, at most (gossip from peers included)"`
	MaxTxs            int      `toml:"max_txs" comment:"transactions waiting for a tx block"`
	AdmitWait         Duration `toml:"admit_wait" comment:"client readings are admitted while those waiting are at most this much of the readings finalized per second recently; past it, 429 mempool_full with a wait of about half of it (retry_after_ms; Retry-After in whole seconds): raise it to 2s for clients that read only Retry-After"`
	AdmitWaitOverPeak Duration `toml:"admit_wait_over_peak" comment:"admit_wait while the network is over its peak (the door refuses readings after they waited longer than this); at most admit_wait, equal to it: no change over the peak"`
	AdmitFloor        int      `toml:"admit_floor" comment:"readings admitted whatever the finalized rate (an idle network still takes a burst), shared among the validators' doors; at most max_readings"`
	RateWindow        Duration `toml:"rate_window" comment:"time constant of the finalized-rate estimate admit_wait applies to"`
}

// Bounds of the mempool's admission keys.
const (
	MinAdmitWait  = Duration(100 * time.Millisecond)
	MaxAdmitWait  = Duration(time.Minute)
	MinRateWindow = Duration(time.Second)
	MaxRateWindow = Duration(10 * time.Minute)
)

// Images bounds the meter images the node accepts.
type Images struct {
	MaxBytes int64 `toml:"max_bytes" comment:"largest image accepted, in bytes"`
}

// Alerts are the deterministic alert rules over the finalized data chain.
// Their thresholds will join this section.
type Alerts struct {
	Enabled bool `toml:"enabled" comment:"evaluate alert rules and serve them at /v1/alerts"`
	// Thresholds tune the rules; every node (and auditor) of a network
	// must use the same ones to derive the same alerts.
	Thresholds alerts.Thresholds `toml:"thresholds" comment:"alert rule thresholds (see package node/alerts); keep them equal on every node of a network"`
}

// Storage places the node's databases. Relative paths are relative to the
// node home.
type Storage struct {
	DataDir string `toml:"data_dir" comment:"badger database of blocks and state"`
	WALDir  string `toml:"wal_dir" comment:"consensus write-ahead log"`
}

// Default returns the configuration of a fresh node home.
func Default() *Config {
	return &Config{
		P2P:     P2P{Listen: []string{DefaultP2PListen}, ExternalAddresses: []string{}, Bootstrap: []string{}, CompactProposals: true, RelayVotesFrom: DefaultRelayVotesFrom, DirectReadingsFrom: DefaultDirectReadingsFrom, DirectProposalsFrom: DefaultDirectProposalsFrom},
		API:     API{Listen: DefaultAPIListen, Limits: DefaultAPILimits()},
		Door:    Door{VerifyInFlight: 16_384, VerifyWorkers: 0},
		MQTT:    MQTT{Enabled: false, Listen: DefaultMQTTListen, TokenWindowSeconds: DefaultMQTTTokenWindowSeconds},
		Log:     Log{Level: "info", Format: "text"},
		Mempool: Mempool{MaxReadings: 100_000, MaxTxs: 10_000, AdmitWait: Duration(1200 * time.Millisecond), AdmitWaitOverPeak: Duration(time.Second), AdmitFloor: 2_000, RateWindow: Duration(10 * time.Second)},
		Images:  Images{MaxBytes: 4 << 20},
		Alerts:  Alerts{Enabled: true, Thresholds: alerts.DefaultThresholds()},
		Storage: Storage{DataDir: "data", WALDir: "wal"},
	}
}

// DefaultAPILimits are the API limits of a fresh node home.
func DefaultAPILimits() APILimits {
	return APILimits{
		ReadHeaderTimeout:  Duration(10 * time.Second),
		ReadTimeout:        Duration(30 * time.Second),
		WriteTimeout:       Duration(30 * time.Second),
		IdleTimeout:        Duration(60 * time.Second),
		MaxConns:           512,
		MaxConnsPerClient:  64,
		ReservedConns:      32,
		MaxBodyBytes:       8 << 20,
		BodyBytes:          64 << 20,
		BodyBytesPerClient: 8 << 20,
	}
}

// ErrInvalid is wrapped by every error of Validate and every error Load
// returns for a file that is not a valid config.
var ErrInvalid = errors.New("invalid config")

// FieldError names the bad key of a config, such as "p2p.bootstrap[1]".
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks every field and returns the first problem, naming the
// key as it is written in config.toml.
func (c *Config) Validate() error {
	if err := c.Alerts.Thresholds.Validate(); err != nil {
		return fieldErr("alerts.thresholds", "%v", err)
	}
	if len(c.P2P.Listen) == 0 {
		return fieldErr("p2p.listen", "empty; want at least one multiaddr such as %q", DefaultP2PListen)
	}
	for i, s := range c.P2P.Listen {
		if err := checkListenAddr(s); err != nil {
			return fieldErr(fmt.Sprintf("p2p.listen[%d]", i), "%v", err)
		}
	}
	external := make(map[string]int)
	for i, s := range c.P2P.ExternalAddresses {
		field := fmt.Sprintf("p2p.external_addresses[%d]", i)
		if err := p2p.CheckExternalAddr(s); err != nil {
			return fieldErr(field, "%v", err)
		}
		if j, dup := external[s]; dup {
			return fieldErr(field, "%q is already p2p.external_addresses[%d]", s, j)
		}
		external[s] = i
	}
	seen := make(map[string]int)
	for i, s := range c.P2P.Bootstrap {
		field := fmt.Sprintf("p2p.bootstrap[%d]", i)
		if _, err := peer.AddrInfoFromString(s); err != nil {
			return fieldErr(field, "%q: %v; want a multiaddr ending in /p2p/PEER-ID (waterchain keys show prints a node's peer ID)", s, err)
		}
		if j, dup := seen[s]; dup {
			return fieldErr(field, "%q is already p2p.bootstrap[%d]", s, j)
		}
		seen[s] = i
	}
	if r := c.P2P.RelayVotesFrom; r != 0 && r < MinRelayVotesFrom {
		return fieldErr("p2p.relay_votes_from", "%d; want 0 (never) or at least %d", r, MinRelayVotesFrom)
	}
	if r := c.P2P.DirectReadingsFrom; r < 0 {
		return fieldErr("p2p.direct_readings_from", "%d; want 0 (never) or a number of validators", r)
	}
	if r := c.P2P.DirectProposalsFrom; r < 0 {
		return fieldErr("p2p.direct_proposals_from", "%d; want 0 (never) or a number of validators", r)
	}
	if d := c.P2P.MeshDegree; d != 0 && (d < 2 || d > MaxMeshDegree) {
		return fieldErr("p2p.mesh_degree", "%d; want 0 (the default, %d) or 2 to %d", d, p2p.DefaultMeshDegree, MaxMeshDegree)
	}
	if err := checkHostPort(c.API.Listen); err != nil {
		return fieldErr("api.listen", "%v", err)
	}
	if err := c.API.Limits.validate("api.limits"); err != nil {
		return err
	}
	if err := checkHostPort(c.MQTT.Listen); err != nil {
		return fieldErr("mqtt.listen", "%v", err)
	}
	if c.MQTT.Enabled && c.MQTT.Listen == c.API.Listen && !strings.HasSuffix(c.MQTT.Listen, ":0") {
		return fieldErr("mqtt.listen", "%q is also api.listen; give each its own port", c.MQTT.Listen)
	}
	if w := c.MQTT.TokenWindowSeconds; w < 1 || w > MaxMQTTTokenWindowSeconds {
		return fieldErr("mqtt.token_window_seconds", "%d; want 1 to %d", w, MaxMQTTTokenWindowSeconds)
	}
	if _, ok := slogLevels[c.Log.Level]; !ok {
		return fieldErr("log.level", "%q; want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fieldErr("log.format", "%q; want text or json", c.Log.Format)
	}
	if c.Mempool.MaxReadings < 1 || c.Mempool.MaxReadings > MaxMempoolReadings {
		return fieldErr("mempool.max_readings", "%d; want 1 to %d", c.Mempool.MaxReadings, MaxMempoolReadings)
	}
	if w := c.Mempool.AdmitWait; w < MinAdmitWait || w > MaxAdmitWait {
		return fieldErr("mempool.admit_wait", "%s; want %s to %s", w.Std(), MinAdmitWait.Std(), MaxAdmitWait.Std())
	}
	if w := c.Mempool.AdmitWaitOverPeak; w < MinAdmitWait || w > c.Mempool.AdmitWait {
		return fieldErr("mempool.admit_wait_over_peak", "%s; want %s to mempool.admit_wait (%s)", w.Std(), MinAdmitWait.Std(), c.Mempool.AdmitWait.Std())
	}
	if f := c.Mempool.AdmitFloor; f < 1 || f > c.Mempool.MaxReadings {
		return fieldErr("mempool.admit_floor", "%d; want 1 to mempool.max_readings (%d)", f, c.Mempool.MaxReadings)
	}
	if w := c.Mempool.RateWindow; w < MinRateWindow || w > MaxRateWindow {
		return fieldErr("mempool.rate_window", "%s; want %s to %s", w.Std(), MinRateWindow.Std(), MaxRateWindow.Std())
	}
	if c.Mempool.MaxTxs < 1 || c.Mempool.MaxTxs > MaxMempoolTxs {
		return fieldErr("mempool.max_txs", "%d; want 1 to %d", c.Mempool.MaxTxs, MaxMempoolTxs)
	}
	if c.Door.VerifyInFlight < 1 || c.Door.VerifyInFlight > MaxMempoolReadings {
		return fieldErr("door.verify_in_flight", "%d; want 1 to %d", c.Door.VerifyInFlight, MaxMempoolReadings)
	}
	if c.Door.VerifyWorkers < 0 || c.Door.VerifyWorkers > 1024 {
		return fieldErr("door.verify_workers", "%d; want 0 (one fewer than the CPUs) to 1024", c.Door.VerifyWorkers)
	}
	if c.Images.MaxBytes < 1 || c.Images.MaxBytes > MaxImageBytes {
		return fieldErr("images.max_bytes", "%d; want 1 to %d", c.Images.MaxBytes, MaxImageBytes)
	}
	if c.API.Limits.BodyBytesPerClient < c.Images.MaxBytes {
		return fieldErr("api.limits.body_bytes_per_client", "%d is less than images.max_bytes (%d): no client could upload a full image", c.API.Limits.BodyBytesPerClient, c.Images.MaxBytes)
	}
	if strings.TrimSpace(c.Storage.DataDir) == "" {
		return fieldErr("storage.data_dir", "empty; want a directory such as \"data\" (relative to the node home)")
	}
	if strings.TrimSpace(c.Storage.WALDir) == "" {
		return fieldErr("storage.wal_dir", "empty; want a directory such as \"wal\" (relative to the node home)")
	}
	if filepath.Clean(c.Storage.DataDir) == filepath.Clean(c.Storage.WALDir) {
		return fieldErr("storage.wal_dir", "%q is also storage.data_dir; the WAL needs a directory of its own", c.Storage.WALDir)
	}
	return nil
}

// validate checks l, naming keys under prefix.
func (l *APILimits) validate(prefix string) error {
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"read_header_timeout", l.ReadHeaderTimeout}, {"read_timeout", l.ReadTimeout},
		{"write_timeout", l.WriteTimeout}, {"idle_timeout", l.IdleTimeout},
	} {
		if d.v < Duration(time.Millisecond) || d.v > MaxAPITimeout {
			return fieldErr(prefix+"."+d.key, "%s; want 1ms to %s", d.v.Std(), MaxAPITimeout.Std())
		}
	}
	if l.ReadHeaderTimeout > l.ReadTimeout {
		return fieldErr(prefix+".read_header_timeout", "%s is longer than read_timeout %s, which includes it", l.ReadHeaderTimeout.Std(), l.ReadTimeout.Std())
	}
	switch {
	case l.MaxConns < 1 || l.MaxConns > 1_000_000:
		return fieldErr(prefix+".max_conns", "%d; want 1 to 1000000", l.MaxConns)
	case l.MaxConnsPerClient < 1 || l.MaxConnsPerClient > l.MaxConns:
		return fieldErr(prefix+".max_conns_per_client", "%d; want 1 to max_conns (%d)", l.MaxConnsPerClient, l.MaxConns)
	case l.ReservedConns < 0 || l.ReservedConns >= l.MaxConns:
		return fieldErr(prefix+".reserved_conns", "%d; want 0 to max_conns-1 (%d)", l.ReservedConns, l.MaxConns-1)
	case l.MaxBodyBytes < 1 || l.MaxBodyBytes > MaxAPIBodyBytes:
		return fieldErr(prefix+".max_body_bytes", "%d; want 1 to %d", l.MaxBodyBytes, MaxAPIBodyBytes)
	case l.BodyBytesPerClient < l.MaxBodyBytes:
		return fieldErr(prefix+".body_bytes_per_client", "%d is less than max_body_bytes (%d): a client could never send a full body", l.BodyBytesPerClient, l.MaxBodyBytes)
	case l.BodyBytes < l.BodyBytesPerClient:
		return fieldErr(prefix+".body_bytes", "%d is less than body_bytes_per_client (%d)", l.BodyBytes, l.BodyBytesPerClient)
	case l.BodyBytes > 1<<40:
		return fieldErr(prefix+".body_bytes", "%d; want at most %d", l.BodyBytes, int64(1)<<40)
	}
	return nil
}

var slogLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// SlogLevel is the log/slog level of a validated Log (info otherwise).
func (l Log) SlogLevel() slog.Level { return slogLevels[l.Level] }

func checkListenAddr(s string) error {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("%q: %v; want a multiaddr such as %q", s, err, DefaultP2PListen)
	}
	hasTransport := false
	for _, c := range m {
		switch c.Protocol().Code {
		case ma.P_P2P:
			return fmt.Errorf("%q names a peer ID; a listen address is only where to listen, such as %q", s, DefaultP2PListen)
		case ma.P_TCP, ma.P_UDP:
			hasTransport = true
		}
	}
	if !hasTransport {
		return fmt.Errorf("%q has no tcp or udp port; want such as %q", s, DefaultP2PListen)
	}
	return nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: want host:port such as %q", s, DefaultAPIListen)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: bad host %q", s, host)
	}
	return nil
}

// Parse decodes config.toml content over Default and validates the result.
// Unknown keys are errors naming the key and its line.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(data), MaxFileSize)
	}
	c := Default()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, describeTOMLError(err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func describeTOMLError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		names := make([]string, len(strict.Errors))
		for i, e := range strict.Errors {
			line, _ := e.Position()
			names[i] = fmt.Sprintf("%s (line %d)", strings.Join(e.Key(), "."), line)
		}
		return fmt.Errorf("%w: unknown key %s; check its spelling (waterchain init writes a config.toml listing every key)", ErrInvalid, strings.Join(names, ", "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		where := fmt.Sprintf("line %d, column %d", line, col)
		if k := de.Key(); len(k) > 0 {
			where = strings.Join(k, ".") + " at " + where
		}
		return fmt.Errorf("%w: %s: %s", ErrInvalid, where, strings.TrimPrefix(de.Error(), "toml: "))
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// Load reads and parses the config file at path; errors name the path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist (waterchain init writes one)", path)
		}
		return nil, fmt.Errorf("config file: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Marshal returns c as TOML with a comment on every key.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Waterchain node configuration. Every key is optional: a missing key\n# keeps its default. Flags of \"waterchain run\" override these values.\n\n")
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Save validates c and writes it to path (mode 0644), replacing the file
// atomically: a crash leaves the old file or the new one, never half of
// one.
func (c *Config) Save(path string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.toml")
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}
