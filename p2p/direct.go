package p2p

import (
	"bufio"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/waterchain/waterchain/chain"
)

// Direct sends small messages straight to connected peers, one hop, each
// copy once: one long-lived stream per peer and direction, carrying frames
// (4-byte big-endian length, then the message). It is the path for
// messages every peer needs from their author, such as consensus votes,
// where gossip would deliver each message to each node 1+D times (the
// author's flood publish plus every receiver forwarding it to its mesh).
//
// Unlike gossip, Direct never forwards: a peer that is not connected to the
// author does not get the message. Use it where every recipient is
// connected to every sender (a validator set bootstrapping from each
// other), or keep a gossip path beside it.
//
// Messages to one peer arrive in the order sent. Send never blocks: each
// peer has a queue of directQueueSize messages, written by one goroutine
// that gathers what is queued into one flush; a full queue drops the new
// message, and a stream that fails drops the messages in flight. Both are
// counted in waterchain_p2p_direct_dropped_total{protocol,reason}, and the
// next message opens a new stream. Callers that must not lose a message
// send it again (consensus rebroadcasts a height that does not move).
type Direct struct {
	n        *Host
	name     string
	validate Validator
	out      chan Message
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex // guards closed, senders
	closed  bool
	senders map[peer.ID]*directSender
}

// directQueueSize bounds the messages waiting for one peer: room for every
// vote of several rounds of a 100-validator set.
const directQueueSize = 1024

// directIdle is how long a peer's sender waits for a message before it
// closes its stream and ends; the next message starts it again.
const directIdle = time.Minute

// directWriteTimeout bounds one flush to a peer that does not read.
const directWriteTimeout = 10 * time.Second

// OpenDirect serves protocol (a short name such as "consensus/votes/1"; the
// host namespaces it by network) for messages sent with Direct.Send and
// delivers those that validate passes (Accept) to Messages. A message that
// validate rejects resets the stream it came on; Ignore drops it.
// validate runs on the goroutine reading the sending peer's stream, one
// message at a time per peer and concurrently across peers.
func (n *Host) OpenDirect(protocol string, validate Validator) (*Direct, error) {
	if err := checkName(protocol); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadProtocol, protocol, err)
	}
	if validate == nil {
		return nil, fmt.Errorf("%w: %q: nil validator", ErrBadProtocol, protocol)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, dup := n.handlers[protocol]; dup {
		return nil, fmt.Errorf("%w: %q", ErrProtocolHandled, protocol)
	}
	n.handlers[protocol] = struct{}{}
	ctx, cancel := context.WithCancel(n.ctx)
	d := &Direct{
		n:        n,
		name:     protocol,
		validate: validate,
		out:      make(chan Message, 256),
		ctx:      ctx,
		cancel:   cancel,
		senders:  make(map[peer.ID]*directSender),
	}
	n.h.SetStreamHandler(n.protocolID(protocol), d.serve)
	// Close the Direct with the host, so that its goroutines end before
	// the host's Close returns.
	n.wg.Go(func() {
		<-n.ctx.Done()
		d.Close()
	})
	return d, nil
}

// Name is the protocol's short name as given to OpenDirect.
func (d *Direct) Name() string { return d.name }

// Messages returns the validated messages from peers. It is never closed;
// stop reading when the host's or the caller's context ends. Read it
// promptly from one goroutine: a slow reader holds up the peers' streams
// (their senders then drop messages when their queues fill).
func (d *Direct) Messages() <-chan Message { return d.out }

// Send queues data for the connected peer with node key to. It fails with
// ErrNotConnected for a peer that is not connected (or has not passed the
// handshake), ErrMessageTooLarge above Config.MaxMessageSize, ErrQueueFull
// when the peer's queue is full, and ErrClosed after Close. A nil error
// means queued, not delivered.
func (d *Direct) Send(to chain.PubKey, data []byte) error {
	if len(data) > d.n.cfg.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes on %q, limit %d", ErrMessageTooLarge, len(data), d.name, d.n.cfg.MaxMessageSize)
	}
	id, err := PeerIDFromKey(to)
	if err != nil {
		return err
	}
	if !d.n.isVerified(id) {
		return fmt.Errorf("%w: %s", ErrNotConnected, to.Short())
	}
	return d.enqueue(id, to, data)
}

// SendAll queues data for every connected peer that passed the handshake
// and returns how many it was queued for.
func (d *Direct) SendAll(data []byte) int {
	sent := 0
	for _, k := range d.n.Peers() {
		if d.Send(k, data) == nil {
			sent++
		}
	}
	return sent
}

func (d *Direct) enqueue(id peer.ID, to chain.PubKey, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	s := d.senders[id]
	if s == nil {
		s = &directSender{d: d, id: id, key: to, queue: make(chan []byte, directQueueSize)}
		d.senders[id] = s
		d.wg.Go(s.run)
	}
	select {
	case s.queue <- data:
		d.n.metrics.directSent.WithLabelValues(d.name).Inc()
		return nil
	default:
		d.n.metrics.directDropped.WithLabelValues(d.name, "queue_full").Inc()
		return fmt.Errorf("%w: %d messages for %s on %q", ErrQueueFull, directQueueSize, to.Short(), d.name)
	}
}

// Close stops serving the protocol, resets its streams and waits for its
// goroutines. It is idempotent; Host.Close calls it.
func (d *Direct) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.mu.Unlock()
	d.n.h.RemoveStreamHandler(d.n.protocolID(d.name))
	d.cancel()
	d.wg.Wait()
	d.n.mu.Lock()
	delete(d.n.handlers, d.name)
	d.n.mu.Unlock()
}

// directSender owns the outbound stream to one peer.
type directSender struct {
	d     *Direct
	id    peer.ID
	key   chain.PubKey
	queue chan []byte
}

func (s *directSender) run() {
	d := s.d
	var st network.Stream
	var w *bufio.Writer
	reset := func() {
		if st != nil {
			_ = st.Reset()
			st, w = nil, nil
		}
	}
	defer reset()
	idle := time.NewTimer(directIdle)
	defer idle.Stop()
	for {
		var data []byte
		select {
		case <-d.ctx.Done():
			return
		case <-idle.C:
			// End only if nothing was queued meanwhile: enqueue holds
			// d.mu while it finds this sender and queues.
			d.mu.Lock()
			if len(s.queue) == 0 {
				delete(d.senders, s.id)
				d.mu.Unlock()
				if st != nil {
					_ = st.Close()
					st = nil
				}
				return
			}
			d.mu.Unlock()
			idle.Reset(directIdle)
			continue
		case data = <-s.queue:
		}
		idle.Reset(directIdle)
		if st == nil {
			var err error
			if st, err = s.open(); err != nil {
				d.n.log.Debug("direct stream", "protocol", d.name, "peer", s.key.Short(), "err", err)
				d.n.metrics.directDropped.WithLabelValues(d.name, "no_stream").Add(float64(1 + s.discard()))
				continue
			}
			w = bufio.NewWriterSize(st, 16<<10)
		}
		// Write what is queued now, then flush once.
		n := 1
		err := writeFrame(w, data)
		for more := true; err == nil && more; {
			select {
			case data = <-s.queue:
				n++
				err = writeFrame(w, data)
			default:
				more = false
			}
		}
		if err == nil {
			_ = st.SetWriteDeadline(time.Now().Add(directWriteTimeout))
			err = w.Flush()
		}
		if err != nil {
			d.n.log.Debug("direct send failed", "protocol", d.name, "peer", s.key.Short(), "messages", n, "err", err)
			d.n.metrics.directDropped.WithLabelValues(d.name, "stream_failed").Add(float64(n))
			reset()
		}
	}
}

// open opens a stream to the peer without dialing: Direct sends only to
// connected peers.
func (s *directSender) open() (network.Stream, error) {
	d := s.d
	ctx, cancel := context.WithTimeout(network.WithNoDial(d.ctx, "direct send"), d.n.cfg.RequestTimeout)
	defer cancel()
	return d.n.h.NewStream(ctx, s.id, d.n.protocolID(d.name))
}

// discard drops what is queued and returns how many.
func (s *directSender) discard() int {
	for n := 0; ; n++ {
		select {
		case <-s.queue:
		default:
			return n
		}
	}
}

// serve reads one peer's stream until it ends, validating each message.
func (d *Direct) serve(s network.Stream) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		_ = s.Reset()
		return
	}
	d.wg.Add(1)
	d.mu.Unlock()
	defer d.wg.Done()
	stop := context.AfterFunc(d.ctx, func() { _ = s.Reset() })
	defer stop()

	id := s.Conn().RemotePeer()
	from, ok := KeyOfPeer(id)
	if !ok || !d.waitVerified(id) {
		// The gater admits only allowed keys, but the handshake proves the
		// network. The sender may have finished it a moment before this
		// side did, hence the wait.
		_ = s.Reset()
		return
	}
	results := d.n.metrics.directResults
	r := bufio.NewReaderSize(s, 16<<10)
	for {
		data, err := readFrame(r, d.n.cfg.MaxMessageSize)
		if err != nil {
			_ = s.Reset()
			return
		}
		res, val := d.n.runValidator(d.name, d.validate, from, data)
		results.WithLabelValues(d.name, res.String()).Inc()
		switch res {
		case Accept:
			select {
			case d.out <- Message{From: from, Data: data, Value: val}:
			case <-d.ctx.Done():
				return
			}
		case Reject:
			d.n.log.Debug("rejected direct message; resetting the stream", "protocol", d.name, "peer", from.Short(), "size", len(data))
			_ = s.Reset()
			return
		}
	}
}

// waitVerified waits up to Config.HandshakeTimeout for the peer to pass the
// handshake and reports whether it did.
func (d *Direct) waitVerified(id peer.ID) bool {
	timeout := time.NewTimer(d.n.cfg.HandshakeTimeout)
	defer timeout.Stop()
	for {
		changed := d.n.PeersChanged()
		if d.n.isVerified(id) {
			return true
		}
		select {
		case <-changed:
		case <-timeout.C:
			return false
		case <-d.ctx.Done():
			return false
		}
	}
}
