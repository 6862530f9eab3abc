package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
)

// BrokerConfig configures the embedded MQTT broker.
type BrokerConfig struct {
	// ChainID names the network in every topic. Required; it must not
	// contain the MQTT special characters / + #.
	ChainID string
	// Listen is the TCP address, such as "0.0.0.0:1883"; port 0 picks a
	// free port (see Addr).
	Listen string
	// MaxReadings bounds the readings of one message (default 1,000).
	MaxReadings int
	// MaxPacketBytes bounds an MQTT packet (default 1 MiB).
	MaxPacketBytes uint32
	// ErrorCode, when set, names the code of a rejection in the result
	// message (the node passes the codes of its HTTP API); by default
	// DefaultErrorCode.
	ErrorCode func(error) string
	// RetryAfter, when set, is the wait a refusal for now names (0:
	// none), published as the result's retry_after_ms (the node passes
	// its HTTP API's Retry-After).
	RetryAfter func(error) time.Duration
	// Devices tells whether a device may connect (registered and active).
	// Required.
	Devices DeviceRegistry
	// AllowAnonymous lets clients without credentials connect, with the
	// rules of before authentication: publish to any readings topic,
	// subscribe to any result topic or to all of them. Off by default;
	// only for legacy meters on a trusted network.
	AllowAnonymous bool
	// TokenWindow is how far a token's time may be from the node's clock,
	// either way (default DefaultTokenWindow).
	TokenWindow time.Duration
	// Now is the clock tokens are checked against (default time.Now).
	Now func() time.Time
}

// DeviceRegistry is the broker's view of the device registry. DeviceActive
// returns nil for a registered device that is not revoked, else an error
// wrapping state.ErrUnknownDevice or state.ErrDeviceRevoked. It is called
// for every authenticating CONNECT, from many goroutines, before any
// signature is checked, so it must be cheap and safe for concurrent use.
type DeviceRegistry interface {
	DeviceActive(device chain.PubKey) error
}

// Result is the message published on a device's result topic for each
// reading of a message (and once, without seq, for a message that does not
// decode). A reading refused for now (code mempool_full or busy) has
// RetryAfterMs, the wait after which to publish it again.
type Result struct {
	Seq          uint64 `json:"seq,omitempty"`
	OK           bool   `json:"ok"`
	Error        string `json:"error,omitempty"`
	Code         string `json:"code,omitempty"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
}

// ReadingsTopic is the topic a device publishes its readings to.
func ReadingsTopic(chainID string, device chain.PubKey) string {
	return "waterchain/" + chainID + "/readings/" + device.String()
}

// ResultTopic is the topic the broker answers a device's messages on.
func ResultTopic(chainID string, device chain.PubKey) string {
	return ReadingsTopic(chainID, device) + "/result"
}

// Broker is the node's embedded MQTT broker (mochi-mqtt): meters publish
// readings on their topic, each message is decoded like an HTTP body,
// handed to the Submitter, and the outcome is published on the device's
// result topic (and, to MQTT 5 publishers at QoS 1, in the PUBACK reason
// code). Nothing else is relayed: a meter authenticates with its device
// key and may publish only to its own readings topic and subscribe only to
// its own result topic (see admit, mayPublish, mayRead).
type Broker struct {
	cfg    BrokerConfig
	sub    Submitter
	log    *slog.Logger
	server *mqtt.Server
	tcp    *listeners.TCP
	prefix string // "waterchain/<chain>/readings/"
	tokens usedTokens

	mu      sync.Mutex // guards started, closed
	started bool
	closed  bool
}

// NewBroker makes a broker; Start opens its listener.
func NewBroker(cfg BrokerConfig, sub Submitter, log *slog.Logger) (*Broker, error) {
	if cfg.ChainID == "" || strings.ContainsAny(cfg.ChainID, "/+#") || len(cfg.ChainID) > chain.MaxChainIDLen {
		return nil, fmt.Errorf("mqtt: chain id %q cannot be part of a topic (want 1 to %d characters without / + #)", cfg.ChainID, chain.MaxChainIDLen)
	}
	if cfg.Listen == "" {
		return nil, errors.New("mqtt: no listen address; set [mqtt] listen, such as \"0.0.0.0:1883\"")
	}
	if sub == nil {
		return nil, errors.New("mqtt: no Submitter")
	}
	if cfg.Devices == nil {
		return nil, errors.New("mqtt: no DeviceRegistry to authenticate meters against")
	}
	if cfg.TokenWindow < 0 {
		return nil, fmt.Errorf("mqtt: token window %s is negative", cfg.TokenWindow)
	}
	if cfg.TokenWindow == 0 {
		cfg.TokenWindow = DefaultTokenWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxReadings <= 0 {
		cfg.MaxReadings = 1000
	}
	if cfg.MaxPacketBytes == 0 {
		cfg.MaxPacketBytes = 1 << 20
	}
	if cfg.ErrorCode == nil {
		cfg.ErrorCode = DefaultErrorCode
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "mqtt")
	b := &Broker{cfg: cfg, sub: sub, log: log, prefix: "waterchain/" + cfg.ChainID + "/readings/"}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = cfg.MaxPacketBytes
	caps.RetainAvailable = 0 // readings are not state; nothing to retain
	caps.MaximumQos = 1
	b.server = mqtt.New(&mqtt.Options{
		InlineClient: true, // to publish results
		Capabilities: caps,
		// mochi logs every rejected publish at error level; a forged
		// reading is the sender's problem, not the node's.
		Logger: slog.New(&demoteHandler{log.Handler()}),
	})
	if err := b.server.AddHook(&ingestHook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	b.tcp = listeners.NewTCP(listeners.Config{ID: "waterchain", Address: cfg.Listen})
	return b, nil
}

// Start binds the listener and serves in the background.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return errors.New("mqtt: broker already started")
	}
	if err := b.server.AddListener(b.tcp); err != nil {
		return fmt.Errorf("mqtt: listen on %s: %w", b.cfg.Listen, err)
	}
	if err := b.server.Serve(); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	b.started = true
	b.log.Info("mqtt broker listening", "addr", b.tcp.Address(), "topic", b.prefix+"<device-hex>", "allow_anonymous", b.cfg.AllowAnonymous)
	return nil
}

// Addr is the address the broker listens on (with the port chosen when
// Listen asked for port 0); before Start it is the configured address.
func (b *Broker) Addr() string { return b.tcp.Address() }

// Close disconnects every client and stops the broker.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if !b.started {
		return nil
	}
	// mochi's own shutdown (Server.Close) lists the listener's clients
	// with a read lock taken twice over, and deadlocks when a client
	// detaching meanwhile asks for the write lock (mochi-mqtt/server#488,
	// seen here as a hung node Close in CI). So the listener is closed
	// first without that listing, and the clients are disconnected from
	// one snapshot (one read lock), as Server.Close would; Server.Close
	// then finds the listener closed and only waits for them.
	b.tcp.Close(func(string) {})
	for _, cl := range b.server.Clients.GetAll() {
		_ = b.server.DisconnectClient(cl, packets.ErrServerShuttingDown)
	}
	return b.server.Close()
}

// deviceOfTopic returns the device a readings topic names.
func (b *Broker) deviceOfTopic(topic string) (chain.PubKey, bool) {
	rest, ok := strings.CutPrefix(topic, b.prefix)
	if !ok || len(rest) != 2*len(chain.PubKey{}) {
		return chain.PubKey{}, false
	}
	dev, err := chain.ParsePubKey(rest)
	return dev, err == nil
}

// resultFilterAllowed: a client may subscribe to one device's result topic
// or to all of them with a + level.
func (b *Broker) resultFilterAllowed(filter string) bool {
	rest, ok := strings.CutPrefix(filter, b.prefix)
	if !ok {
		return false
	}
	dev, ok := strings.CutSuffix(rest, "/result")
	if !ok {
		return false
	}
	if dev == "+" {
		return true
	}
	_, err := chain.ParsePubKey(dev)
	return err == nil && len(dev) == 2*len(chain.PubKey{})
}

// handle decodes, checks and submits one message, publishes the results
// and returns the error for the PUBACK (nil: all accepted).
func (b *Broker) handle(dev chain.PubKey, contentType string, payload []byte) error {
	reply := func(res Result) {
		raw, _ := json.Marshal(res)
		if err := b.server.Publish(ResultTopic(b.cfg.ChainID, dev), raw, false, 1); err != nil {
			b.log.Warn("publishing a result", "device", dev.Short(), "err", err)
		}
	}
	rs, err := DecodeLimit(contentType, payload, b.cfg.MaxReadings)
	if err == nil {
		for _, r := range rs {
			if r.Device != dev {
				err = fmt.Errorf("%w: topic names %s, reading seq %d is of %s; publish each device's readings on its own topic", ErrDeviceMismatch, dev.Short(), r.Seq, r.Device.Short())
				break
			}
		}
	}
	if err != nil {
		reply(Result{OK: false, Error: err.Error(), Code: b.cfg.ErrorCode(err)})
		return err
	}
	errs := b.sub.Submit(rs)
	var first error
	for i, r := range rs {
		var e error
		if i < len(errs) {
			e = errs[i]
		} else {
			e = errors.New("internal: the submitter gave no answer for this reading")
		}
		res := Result{Seq: r.Seq, OK: e == nil}
		if e != nil {
			res.Error, res.Code = e.Error(), b.cfg.ErrorCode(e)
			if b.cfg.RetryAfter != nil {
				if d := b.cfg.RetryAfter(e); d > 0 {
					res.RetryAfterMs = max(d.Milliseconds(), 1)
				}
			}
			if first == nil {
				first = e
			}
		}
		reply(res)
	}
	accepted := 0
	for i := range rs {
		if i < len(errs) && errs[i] == nil {
			accepted++
		}
	}
	if accepted > 0 {
		return nil // partly or wholly accepted: details on the result topic
	}
	return first
}

// ReasonCode is the MQTT 5 PUBACK reason code for a rejection.
func ReasonCode(err error) byte {
	switch {
	case errors.Is(err, ErrDeviceMismatch):
		return packets.ErrTopicNameInvalid.Code
	case errors.Is(err, ErrBadBody), errors.Is(err, chain.ErrInvalid), errors.Is(err, state.ErrBadReading):
		return packets.ErrPayloadFormatInvalid.Code
	case errors.Is(err, chain.ErrBadSignature), errors.Is(err, state.ErrUnknownDevice), errors.Is(err, state.ErrDeviceRevoked):
		return packets.ErrNotAuthorized.Code
	}
	return packets.ErrImplementationSpecificError.Code
}

// DefaultErrorCode names a rejection with the codes of the HTTP API.
func DefaultErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrDeviceMismatch):
		return "device_mismatch"
	case errors.Is(err, ErrBadBody), errors.Is(err, chain.ErrInvalid), errors.Is(err, state.ErrBadReading):
		return "bad_request"
	case errors.Is(err, chain.ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, state.ErrUnknownDevice):
		return "unknown_device"
	case errors.Is(err, state.ErrDeviceRevoked):
		return "device_revoked"
	case errors.Is(err, state.ErrReplayedSeq), errors.Is(err, state.ErrTimeNotIncreasing):
		return "replayed"
	case errors.Is(err, state.ErrTimeOutsideWindow):
		return "time_outside_window"
	}
	return "rejected"
}

// ingestHook is the broker's only hook: OnConnect authenticates (admit),
// the ACL binds each client to its own topics (mayPublish, mayRead),
// OnPublish does the work, and OnWill treats a will like a publish.
type ingestHook struct {
	mqtt.HookBase
	b *Broker
}

func (h *ingestHook) ID() string { return "waterchain-ingest" }

func (h *ingestHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnWill:
		return true
	}
	return false
}

// OnConnect runs admit. It answers a refusal itself, so that an MQTT 5
// client learns the reason (mochi's OnConnectAuthenticate can only say
// "bad user name or password"), and returns an error, on which mochi
// closes the connection without calling OnConnectAuthenticate.
func (h *ingestHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	code, err := h.b.admit(cl, pk)
	if err == nil {
		return nil
	}
	h.b.log.Info("mqtt connect refused", "client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote, "err", err)
	if cl.Properties.ProtocolVersion == 5 {
		code = packets.Code{Code: code.Code, Reason: truncate(err.Error(), 200)}
	} else {
		code = v3ConnackCode(code)
	}
	_ = h.b.server.SendConnack(cl, code, false, nil)
	return &connectRefused{err}
}

// OnConnectAuthenticate lets in every client that reaches it: mochi calls
// it only after OnConnect, which has admitted the client.
func (h *ingestHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck confines publishing and subscribing, and also delivery: mochi
// checks each message against each subscriber.
func (h *ingestHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return h.b.mayPublish(cl.Properties.Username, topic)
	}
	return h.b.mayRead(cl.Properties.Username, topic)
}

// OnPublish handles a reading message. It returns CodeSuccessIgnore for an
// accepted message (acknowledged, not relayed), and for a rejected one a
// reason code, which mochi sends in the PUBACK to MQTT 5 clients at QoS 1;
// MQTT 3 clients and QoS 0 messages learn of rejects from the result topic
// only.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // our own results
	}
	dev, ok := h.b.deviceOfTopic(pk.TopicName)
	if !ok || !h.b.mayPublish(cl.Properties.Username, pk.TopicName) {
		return pk, packets.ErrRejectPacket // the ACL lets none through; be sure
	}
	err := h.b.handle(dev, pk.Properties.ContentType, pk.Payload)
	if err == nil {
		return pk, packets.CodeSuccessIgnore
	}
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		return pk, packets.Code{Code: ReasonCode(err), Reason: truncate(err.Error(), 200)}
	}
	return pk, packets.CodeSuccessIgnore
}

// OnWill handles a will like a publish: admit let in only wills on the
// client's own readings topic (or, for an anonymous client when they are
// allowed, on a readings topic), and the payload is decoded, checked and
// submitted when the connection drops, its results on the result topic.
// The will returned is empty, so mochi relays nothing.
func (h *ingestHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	dev, ok := h.b.deviceOfTopic(will.TopicName)
	if !ok || !h.b.mayPublish(cl.Properties.Username, will.TopicName) {
		h.b.log.Warn("dropping a will admit should have refused", "client", cl.ID, "topic", will.TopicName)
		return mqtt.Will{}, nil
	}
	_ = h.b.handle(dev, "", will.Payload)
	return mqtt.Will{}, nil
}

// connectRefused is the error OnConnect returns for a refused client.
type connectRefused struct{ err error }

func (e *connectRefused) Error() string { return "mqtt connect refused: " + e.err.Error() }
func (e *connectRefused) Unwrap() error { return e.err }

// demoteHandler logs mochi's "publish packet error" (a rejected reading)
// and its listener's line for a refused CONNECT at debug level instead of
// error and warn.
type demoteHandler struct{ slog.Handler }

func (d *demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && (r.Message == "publish packet error" || isConnectRefused(r)) {
		r.Level = slog.LevelDebug
		if !d.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return d.Handler.Handle(ctx, r)
}

// isConnectRefused: mochi's listener logs the error of every connection
// that ends with one, so a refused CONNECT (already logged by OnConnect)
// would be logged twice, the second time at warn level.
func isConnectRefused(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			var cr *connectRefused
			found = errors.As(err, &cr)
		}
		return !found
	})
	return found
}

func (d *demoteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &demoteHandler{d.Handler.WithAttrs(as)}
}

func (d *demoteHandler) WithGroup(name string) slog.Handler {
	return &demoteHandler{d.Handler.WithGroup(name)}
}
