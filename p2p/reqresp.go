package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/waterchain/waterchain/chain"
)

// Handler serves one request from the peer with node key from and returns
// the response, or an error whose message is sent back to the requester
// (who gets it wrapped in ErrRemote). ctx ends at Config.RequestTimeout or
// when the host closes. Handlers run concurrently, at most
// Config.MaxConcurrentRequests at a time.
type Handler func(ctx context.Context, from chain.PubKey, req []byte) ([]byte, error)

// Handle serves protocol (a short name such as "sync/blocks/1"; the host
// namespaces it by network) with h.
//
// On the wire, a request is one frame (4-byte big-endian length and at most
// Config.MaxRequestSize bytes) and the response a status byte and one frame
// (at most Config.MaxResponseSize bytes, or an error message).
func (n *Host) Handle(proto string, h Handler) error {
	if err := checkName(proto); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrBadProtocol, proto, err)
	}
	if h == nil {
		return fmt.Errorf("%w: %q: nil handler", ErrBadProtocol, proto)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if _, dup := n.handlers[proto]; dup {
		return fmt.Errorf("%w: %q", ErrProtocolHandled, proto)
	}
	n.handlers[proto] = struct{}{}
	n.h.SetStreamHandler(n.protocolID(proto), func(s network.Stream) { n.serve(proto, h, s) })
	return nil
}

func (n *Host) protocolID(proto string) protocol.ID { return protocol.ID(n.prefix + proto) }

func (n *Host) serve(proto string, h Handler, s network.Stream) {
	if !n.track() {
		_ = s.Reset()
		return
	}
	defer n.wg.Done()
	result := "error"
	defer func() { n.metrics.requests.WithLabelValues(proto, "in", result).Inc() }()

	from, _ := KeyOfPeer(s.Conn().RemotePeer())
	log := n.log.With("protocol", proto, "peer", from.Short())
	_ = s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	req, err := readFrame(s, n.cfg.MaxRequestSize)
	if err != nil {
		log.Debug("bad request", "err", err)
		if errors.Is(err, errTooLarge) {
			_ = writeResponse(s, nil, fmt.Errorf("%w: %w", ErrRequestTooLarge, err))
			_ = s.Close()
		} else {
			_ = s.Reset()
		}
		return
	}
	select {
	case n.reqSem <- struct{}{}:
	default:
		_ = writeResponse(s, nil, ErrBusy)
		_ = s.Close()
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
	resp, herr := n.runHandler(ctx, h, from, req, log)
	cancel()
	// The slot bounds handlers running, and is free before the answer
	// goes out: freed after it, a client's next request, sent as soon as
	// it had the answer, could find the slot still taken and be told the
	// host was busy.
	<-n.reqSem
	if herr == nil && len(resp) > n.cfg.MaxResponseSize {
		log.Error("handler response exceeds MaxResponseSize; sending an error instead", "size", len(resp), "limit", n.cfg.MaxResponseSize)
		herr = fmt.Errorf("%w: %d bytes, limit %d", ErrResponseTooLarge, len(resp), n.cfg.MaxResponseSize)
	}
	if err := writeResponse(s, resp, herr); err != nil {
		log.Debug("writing response", "err", err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
	if herr == nil {
		result = "ok"
	}
}

func (n *Host) runHandler(ctx context.Context, h Handler, from chain.PubKey, req []byte, log interface {
	Error(string, ...any)
}) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("request handler panicked", "panic", r)
			resp, err = nil, errors.New("internal error")
		}
	}()
	return h(ctx, from, req)
}

// Request sends req to the peer with node key to on protocol and returns
// its response. Without a deadline on ctx, Config.RequestTimeout applies. The
// host dials the peer if it is not connected.
func (n *Host) Request(ctx context.Context, to chain.PubKey, proto string, req []byte) (resp []byte, err error) {
	if err := checkName(proto); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadProtocol, proto, err)
	}
	if len(req) > n.cfg.MaxRequestSize {
		return nil, fmt.Errorf("%w: %d bytes on %q, limit %d", ErrRequestTooLarge, len(req), proto, n.cfg.MaxRequestSize)
	}
	id, err := PeerIDFromKey(to)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer cancel()
	}
	start := time.Now()
	defer func() {
		result := "ok"
		if err != nil {
			result = "error"
		}
		n.metrics.requests.WithLabelValues(proto, "out", result).Inc()
		n.metrics.requestSeconds.WithLabelValues(proto).Observe(time.Since(start).Seconds())
	}()
	wrap := func(stage string, err error) error {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("p2p: request %q to %s: %s: %w (%w)", proto, to.Short(), stage, err, cerr)
		}
		return fmt.Errorf("p2p: request %q to %s: %s: %w", proto, to.Short(), stage, err)
	}

	s, err := n.h.NewStream(ctx, id, n.protocolID(proto))
	if err != nil {
		return nil, wrap("open stream", err)
	}
	// The context, not a stream deadline, bounds the exchange: resetting the
	// stream once ctx is done makes every error after it carry ctx.Err().
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := writeFrame(s, req); err != nil {
		_ = s.Reset()
		return nil, wrap("send", err)
	}
	_ = s.CloseWrite()
	resp, err = readResponse(s, n.cfg.MaxResponseSize)
	if err != nil {
		_ = s.Reset()
		return nil, wrap("response", err)
	}
	_ = s.Close()
	return resp, nil
}
