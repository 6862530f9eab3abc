package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/waterchain/waterchain/chain"
)

// Result is a topic validator's verdict on a message.
type Result int

const (
	// Accept delivers the message to the topic's reader and forwards it.
	Accept Result = iota
	// Reject drops a provably invalid message (undecodable, bad signature,
	// wrong chain) and penalizes the peer that sent it: an honest peer
	// validates before it forwards, so it never relays such a message.
	Reject
	// Ignore drops a message that is stale, duplicate or not checkable yet
	// (a vote for a height this node has not reached) without penalty.
	Ignore
)

func (r Result) String() string {
	switch r {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Validator checks a message received from peer from (the peer that
// forwarded it, not necessarily its author: the author's signature is inside
// the data). It may return the decoded, verified value, which reaches the
// reader in Message.Value, so nothing is decoded or verified twice.
//
// Validators run on gossipsub's validation workers (one per CPU), concurrently
// with each other: they must be safe for concurrent use, must not block, and
// should return Ignore rather than Reject whenever the message might be valid
// for a node in another state. A panic is recovered and counts as Ignore.
type Validator func(from chain.PubKey, data []byte) (Result, any)

// Message is a validated gossip message from a peer.
type Message struct {
	// From is the node key of the peer that forwarded the message.
	From chain.PubKey
	// Data is the message as published.
	Data []byte
	// Value is what the validator returned with Accept.
	Value any
}

// TopicOption adjusts a topic at Join.
type TopicOption func(*topicOptions)

type topicOptions struct{ unpaced bool }

// Unpaced exempts a topic's Publish from the host's publish rate: for
// low-rate traffic that must not queue behind bulk gossip, such as
// consensus votes and proposals. The host's total rate must still leave room
// for it (DefaultPublishRate was measured to).
func Unpaced() TopicOption { return func(o *topicOptions) { o.unpaced = true } }

// Topic is a joined gossip topic. The host subscribes to it for as long as
// it is joined; read its messages from Messages.
type Topic struct {
	n       *Host
	name    string
	full    string
	unpaced bool
	t       *pubsub.Topic
	sub     *pubsub.Subscription
	out     chan Message
	cancel  context.CancelFunc
	reading bool // read owns out and closes it
	once    sync.Once
}

// messageID identifies a gossip message by its content. Messages carry no
// author or sequence number (StrictNoSign): every entry and vote is signed by
// its author inside the data, so libp2p's own per-message signature would be
// a second, redundant verification. Publishing the same bytes twice within
// gossipsub's seen-messages window (2 minutes) is therefore a no-op.
func messageID(m *pb.Message) string {
	sum := sha256.Sum256(m.GetData())
	return string(sum[:])
}

func (n *Host) pubsubOptions() []pubsub.Option {
	thresholds := scoreThresholds
	opts := []pubsub.Option{
		pubsub.WithPeerOutboundQueueSize(n.cfg.OutboundQueueSize),
		pubsub.WithValidateQueueSize(n.cfg.ValidateQueueSize),
		// The limit is on whole RPCs, which carry control messages too.
		pubsub.WithMaxMessageSize(n.cfg.MaxMessageSize + 64<<10),
		pubsub.WithRawTracer(dropTracer{n}),
		pubsub.WithPeerExchange(false),
		// Own messages go to every subscribed peer, not only the mesh:
		// without it (gossipsub's default in v0.19) a message published
		// before the first heartbeat has built the mesh reaches nobody, and
		// Publish still succeeds. For a network of tens of nodes the extra
		// copies are cheap, and votes arrive one hop sooner.
		pubsub.WithFloodPublish(true),
		pubsub.WithGossipSubParams(gossipParams(n.cfg.MeshDegree)),
		pubsub.WithPeerScore(peerScoreParams(), &thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.inspectScores), n.cfg.ScoreInspectPeriod),
		pubsub.WithLogger(n.log.With("subsystem", "gossipsub")),
	}
	if !n.cfg.libp2pSigning {
		opts = append(opts,
			pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
			pubsub.WithNoAuthor(),
			pubsub.WithMessageIdFn(messageID))
	}
	return opts
}

// gossipParams are gossipsub's defaults with mesh degree d (at least 2):
// the mesh keeps d-1 to 2d peers, of which up to 2 (fewer than d/2)
// outbound, and gossips message ids to d peers outside it. d = 6 gives
// gossipsub's defaults exactly.
func gossipParams(d int) pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.D = d
	p.Dlo = max(d-1, 1)
	p.Dhi = 2 * d
	p.Dscore = min(p.Dscore, p.Dhi)
	p.Dout = max(0, min(p.Dout, d/2-1, p.Dlo-1))
	p.Dlazy = d
	return p
}

// Join subscribes to topic (a short name such as "readings" or
// "consensus/data"; the host namespaces it by network) with validate as its
// validator. Messages from peers that validate reach Messages; messages this
// host publishes do not loop back.
func (n *Host) Join(topic string, validate Validator, opts ...TopicOption) (*Topic, error) {
	if err := checkName(topic); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadTopic, topic, err)
	}
	if validate == nil {
		return nil, fmt.Errorf("%w: %q: nil validator", ErrBadTopic, topic)
	}
	var o topicOptions
	for _, opt := range opts {
		opt(&o)
	}
	full := n.prefix + topic
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dup := n.topics[topic]; dup {
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrTopicJoined, topic)
	}
	t := &Topic{n: n, name: topic, full: full, unpaced: o.unpaced, out: make(chan Message, 64)}
	n.topics[topic] = t
	n.mu.Unlock()

	if err := t.open(validate); err != nil {
		t.Close()
		return nil, fmt.Errorf("p2p: join %q: %w", topic, err)
	}
	return t, nil
}

func (t *Topic) open(validate Validator) error {
	n := t.n
	err := n.ps.RegisterTopicValidator(t.full, n.topicValidator(t.name, validate), pubsub.WithValidatorInline(true))
	if err != nil {
		return err
	}
	if t.t, err = n.ps.Join(t.full); err != nil {
		return err
	}
	if err := t.t.SetScoreParams(topicScoreParams()); err != nil {
		return err
	}
	if t.sub, err = t.t.Subscribe(pubsub.WithBufferSize(n.cfg.SubscriptionBuffer)); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(n.ctx)
	t.cancel = cancel
	if !n.spawn(func() { t.read(ctx) }) {
		return ErrClosed
	}
	t.reading = true
	return nil
}

// topicValidator adapts a Validator to gossipsub and counts its verdicts.
func (n *Host) topicValidator(topic string, validate Validator) pubsub.ValidatorEx {
	self := n.h.ID()
	results := [3]interface{ Inc() }{
		n.metrics.gossipResults.WithLabelValues(topic, Accept.String()),
		n.metrics.gossipResults.WithLabelValues(topic, Reject.String()),
		n.metrics.gossipResults.WithLabelValues(topic, Ignore.String()),
	}
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if from == self {
			// Our own publication: the caller vouches for it, and
			// verifying it here would be the redundant second check.
			return pubsub.ValidationAccept
		}
		key, ok := KeyOfPeer(from)
		res, val := Reject, any(nil)
		if ok {
			res, val = n.runValidator(topic, validate, key, m.GetData())
		}
		switch res {
		case Accept:
			m.ValidatorData = val
			results[Accept].Inc()
			return pubsub.ValidationAccept
		case Reject:
			results[Reject].Inc()
			n.log.Debug("rejected gossip", "topic", topic, "peer", key.Short(), "size", len(m.GetData()))
			return pubsub.ValidationReject
		default:
			results[Ignore].Inc()
			return pubsub.ValidationIgnore
		}
	}
}

func (n *Host) runValidator(topic string, validate Validator, from chain.PubKey, data []byte) (res Result, val any) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("gossip validator panicked; message ignored", "topic", topic, "peer", from.Short(), "panic", r)
			res, val = Ignore, nil
		}
	}()
	res, val = validate(from, data)
	if res != Accept && res != Reject && res != Ignore {
		n.log.Error("gossip validator returned an unknown result; message ignored", "topic", topic, "result", res)
		return Ignore, nil
	}
	return res, val
}

// read moves validated messages from the subscription to Messages until the
// topic closes. While the reader is slow, gossipsub's subscription buffer
// fills and then drops (counted as subscriber_slow).
func (t *Topic) read(ctx context.Context) {
	defer close(t.out)
	self := t.n.h.ID()
	delivered := t.n.metrics.gossipDeliver.WithLabelValues(t.name)
	for {
		m, err := t.sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == self {
			continue
		}
		from, _ := KeyOfPeer(m.ReceivedFrom)
		select {
		case t.out <- Message{From: from, Data: m.GetData(), Value: m.ValidatorData}:
			delivered.Inc()
		case <-ctx.Done():
			return
		}
	}
}

// Name is the topic's short name as given to Join.
func (t *Topic) Name() string { return t.name }

// Messages returns the validated messages from peers. It is closed when the
// topic or the host closes. There is one channel per topic: read it from
// one goroutine, and keep up, or gossipsub drops messages (counted in
// waterchain_p2p_gossip_dropped_total{reason="subscriber_slow"}).
func (t *Topic) Messages() <-chan Message { return t.out }

// Publish gossips data to the topic's peers. Unless the topic is Unpaced it
// first waits for the host's publish rate (Config.PublishRate), since
// gossipsub itself never pushes back: a success means the message was
// queued, not delivered. Publishing the same bytes twice within two minutes
// is a no-op (messages are identified by their content hash).
func (t *Topic) Publish(ctx context.Context, data []byte) error {
	if len(data) > t.n.cfg.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes on %q, limit %d", ErrMessageTooLarge, len(data), t.name, t.n.cfg.MaxMessageSize)
	}
	if t.t == nil {
		return ErrClosed
	}
	if lim := t.n.limiter; lim != nil && !t.unpaced {
		start := time.Now()
		if err := lim.Wait(ctx); err != nil {
			return fmt.Errorf("p2p: publish on %q: waiting for the publish rate: %w", t.name, err)
		}
		t.n.metrics.publishWait.Observe(time.Since(start).Seconds())
	}
	if err := t.t.Publish(ctx, data); err != nil {
		if errors.Is(err, pubsub.ErrTopicClosed) || t.n.ctx.Err() != nil {
			return fmt.Errorf("p2p: publish on %q: %w", t.name, ErrClosed)
		}
		return fmt.Errorf("p2p: publish on %q: %w", t.name, err)
	}
	t.n.metrics.gossipPublish.WithLabelValues(t.name).Inc()
	return nil
}

// Peers returns the node keys of the peers this host knows to be subscribed
// to the topic.
func (t *Topic) Peers() []chain.PubKey {
	if t.t == nil {
		return nil
	}
	ids := t.t.ListPeers()
	out := make([]chain.PubKey, 0, len(ids))
	for _, id := range ids {
		if k, ok := KeyOfPeer(id); ok {
			out = append(out, k)
		}
	}
	return out
}

// Close leaves the topic: it unsubscribes, removes the validator and closes
// Messages. It is idempotent.
func (t *Topic) Close() {
	t.once.Do(func() {
		n := t.n
		if t.cancel != nil {
			t.cancel()
		}
		if t.sub != nil {
			t.sub.Cancel()
		}
		if t.t != nil {
			if err := t.t.Close(); err != nil && n.ctx.Err() == nil {
				n.log.Warn("closing gossip topic", "topic", t.name, "err", err)
			}
		}
		if !t.reading {
			close(t.out)
		}
		if err := n.ps.UnregisterTopicValidator(t.full); err != nil && n.ctx.Err() == nil {
			n.log.Debug("unregistering topic validator", "topic", t.name, "err", err)
		}
		n.mu.Lock()
		if n.topics[t.name] == t {
			delete(n.topics, t.name)
		}
		n.mu.Unlock()
	})
}

// checkName accepts topic and protocol names of 1 to 64 characters from
// [a-z0-9._/-], not starting or ending with '/'.
func checkName(s string) error {
	if len(s) == 0 || len(s) > 64 {
		return fmt.Errorf("want 1 to 64 characters, got %d", len(s))
	}
	if s[0] == '/' || s[len(s)-1] == '/' {
		return errors.New("must not start or end with '/'")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return fmt.Errorf("character %q at %d not in [a-z0-9._/-]", c, i)
		}
	}
	return nil
}
