package p2p

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// bootPeer is one bootstrap peer. Its dialing goroutine owns the backoff
// state; wake and verified are how connection events reach it.
type bootPeer struct {
	info peer.AddrInfo
	// wake is poked (without blocking) when the peer disconnects.
	wake chan struct{}
	// verified is set when the peer passes the handshake; the dialer resets
	// its backoff only then, so a peer that connects and is dropped at once
	// (another network, say) is redialed ever more slowly, not in a loop.
	verified atomic.Bool
}

func (bp *bootPeer) poke() {
	select {
	case bp.wake <- struct{}{}:
	default:
	}
}

func (n *Host) startBootstrap() error {
	for _, s := range n.cfg.Bootstrap {
		ai, err := peer.AddrInfoFromString(s) // Validate checked it
		if err != nil {
			return err
		}
		if ai.ID == n.h.ID() {
			continue
		}
		if bp := n.boot[ai.ID]; bp != nil {
			bp.info.Addrs = append(bp.info.Addrs, ai.Addrs...)
			continue
		}
		n.boot[ai.ID] = &bootPeer{info: *ai, wake: make(chan struct{}, 1)}
	}
	for _, bp := range n.boot {
		n.h.Peerstore().AddAddrs(bp.info.ID, bp.info.Addrs, peerstore.PermanentAddrTTL)
		n.spawn(func() { n.keepConnected(bp) })
	}
	return nil
}

// keepConnected dials bp, waits while connected, and redials after a
// disconnect, backing off exponentially with jitter on failures.
func (n *Host) keepConnected(bp *bootPeer) {
	log := n.log.With("bootstrap", bp.info.ID)
	failures := 0
	for {
		if n.h.Network().Connectedness(bp.info.ID) != network.Connected {
			bp.verified.Store(false)
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.HandshakeTimeout)
			// Our own backoff paces redials; the swarm's (5 s and up)
			// would only delay reconnecting to a restarted peer.
			err := n.h.Connect(network.WithForceDirectDial(ctx, "bootstrap"), bp.info)
			cancel()
			if n.ctx.Err() != nil {
				return
			}
			if err != nil {
				failures++
				d := backoff(failures, n.cfg.ReconnectMin, n.cfg.ReconnectMax)
				if failures == 1 {
					log.Info("cannot reach bootstrap peer; retrying with backoff", "err", err)
				} else {
					log.Debug("cannot reach bootstrap peer", "err", err, "failures", failures, "retry_in", d)
				}
				if !n.wait(d) {
					return
				}
				continue
			}
		}
		// Connected: wait for a disconnect.
		select {
		case <-n.ctx.Done():
			return
		case <-bp.wake:
		}
		if n.h.Network().Connectedness(bp.info.ID) == network.Connected {
			continue // a stale wake-up
		}
		if bp.verified.Load() {
			failures = 0
		} else {
			failures++
		}
		if failures > 0 && !n.wait(backoff(failures, n.cfg.ReconnectMin, n.cfg.ReconnectMax)) {
			return
		}
	}
}

// wait sleeps for d unless the host closes first; it reports whether the
// host is still open.
func (n *Host) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is the delay before dial attempt number failures+1: min·2^(failures-1)
// capped at max, with "equal jitter" (a uniformly random point in the upper
// half) so that peers restarted together do not redial in lockstep while the
// delay still grows.
func backoff(failures int, min, max time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := min
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	d = clampDuration(d, min, max)
	half := d / 2
	return half + rand.N(d-half+1)
}

func clampDuration(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}
