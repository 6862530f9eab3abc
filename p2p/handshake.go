package p2p

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// helloProtocol is the one protocol not namespaced by network: on it the
// dialing side of every new connection sends its NetworkID and the other side
// answers with its own. Each side compares, and a peer on another network
// (another chain id or genesis) is disconnected with the reason logged.
const helloProtocol = protocol.ID("/waterchain/hello/1.0.0")

// sayHello runs the handshake on a connection this host dialed.
func (n *Host) sayHello(id peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.HandshakeTimeout)
	defer cancel()
	s, err := n.h.NewStream(network.WithNoDial(ctx, "hello"), id, helloProtocol)
	if err != nil {
		if n.ctx.Err() != nil || n.h.Network().Connectedness(id) != network.Connected {
			return
		}
		n.disconnect(id, "no_handshake", "cannot open the hello stream: "+err.Error())
		return
	}
	defer s.Close()
	deadline, _ := ctx.Deadline()
	_ = s.SetDeadline(deadline)
	// The write side stays open until we have read the reply: our closing
	// it tells the serving side we have its id, so that on a mismatch it
	// disconnects only after both sides could log why.
	if err := writeFrame(s, []byte(n.cfg.NetworkID)); err != nil {
		n.log.Debug("hello: send", "peer_id", id, "err", err)
		return
	}
	theirs, err := readFrame(s, maxNetworkIDLen)
	if err != nil {
		// A peer that rejects our network id resets the stream: it logged
		// the reason on its side, and we wait for its disconnect.
		n.log.Debug("hello: receive", "peer_id", id, "err", err)
		return
	}
	if !n.checkNetwork(id, string(theirs)) {
		n.disconnect(id, "network_mismatch", "ours "+quote(n.cfg.NetworkID)+", theirs "+quote(string(theirs)))
	}
}

// serveHello answers the handshake on a connection the peer dialed.
func (n *Host) serveHello(s network.Stream) {
	id := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(n.cfg.HandshakeTimeout))
	theirs, err := readFrame(s, maxNetworkIDLen)
	if err != nil {
		_ = s.Reset()
		n.disconnect(id, "no_handshake", "bad hello: "+err.Error())
		return
	}
	if err := writeFrame(s, []byte(n.cfg.NetworkID)); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.CloseWrite()
	ok := n.checkNetwork(id, string(theirs))
	if !ok {
		// Let the dialer read our id and log the mismatch too: it closes
		// its side once it has (or the deadline passes).
		_, _ = io.Copy(io.Discard, io.LimitReader(s, 1))
		n.disconnect(id, "network_mismatch", "ours "+quote(n.cfg.NetworkID)+", theirs "+quote(string(theirs)))
	}
	_ = s.Close()
}

// checkNetwork marks the peer verified when its network id is ours and
// reports whether it is.
func (n *Host) checkNetwork(id peer.ID, theirs string) bool {
	if theirs != n.cfg.NetworkID {
		return false
	}
	n.markVerified(id)
	return true
}

// awaitHello disconnects a peer that dialed us but did not complete the
// handshake within HandshakeTimeout.
func (n *Host) awaitHello(id peer.ID) {
	t := time.NewTimer(n.cfg.HandshakeTimeout)
	defer t.Stop()
	select {
	case <-n.ctx.Done():
		return
	case <-t.C:
	}
	if !n.isVerified(id) && n.h.Network().Connectedness(id) == network.Connected {
		n.disconnect(id, "no_handshake", "no hello within "+n.cfg.HandshakeTimeout.String())
	}
}

// quote renders a network id from a peer for a log line: escaped and
// clipped, since the peer chose it.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}
