package node

import (
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// gossipLinger is how long readings admitted at this node's door wait for
// others to share a gossip message with them, unless gossipEnough of them
// are waiting.
//
// Each request a door admitted used to become a gossip message of its own.
// Meters post their own readings, one or a few at a time, and each gossip
// message costs every node about the same whatever it carries: it is
// relayed over gossipsub's mesh, each copy crossing the network with its
// syscalls, stream framing and validation; its signatures are checked as
// one batch, and a batch of one or two costs several times as much per
// signature as one of 64 (curve25519-voi); and it counts against the
// host's publish rate (2,000 messages a second, p2p.Config.PublishRate).
// Waiting a few tens of milliseconds costs a reading no more than that
// (this node's own mempool has it at once, and a block takes hundreds of
// milliseconds), and a gateway's batches of gossipEnough or more go out
// at once, as before.
const (
	gossipLinger = 25 * time.Millisecond
	gossipEnough = 64
)

// gossipBatcher coalesces the readings a door admits into gossip messages
// of at most maxGossipReadings, sent as soon as enough (gossipEnough) are
// waiting, and otherwise linger after the first reading waiting. Messages
// keep the order the readings were admitted in, but gossip does not
// promise delivery in order (publish sends each message on its own
// goroutine), which the mempool handles as it always has: a reading whose
// predecessor is missing waits for it.
type gossipBatcher struct {
	linger time.Duration
	enough int
	send   func([]*chain.Reading)

	mu      sync.Mutex
	pending []*chain.Reading
	armed   bool // a flush is scheduled
	closed  bool
	sending sync.WaitGroup // sends under way; Add only under mu, while open
}

func newGossipBatcher(linger time.Duration, enough int, send func([]*chain.Reading)) *gossipBatcher {
	return &gossipBatcher{linger: linger, enough: enough, send: send}
}

// add queues rs for gossip.
func (b *gossipBatcher) add(rs []*chain.Reading) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.pending = append(b.pending, rs...)
	var out []*chain.Reading
	if len(b.pending) >= b.enough {
		out, b.pending = b.pending, nil
		b.sending.Add(1)
	}
	arm := len(b.pending) > 0 && !b.armed
	if arm {
		b.armed = true
	}
	b.mu.Unlock()
	if out != nil {
		for start := 0; start < len(out); start += maxGossipReadings {
			b.send(out[start:min(start+maxGossipReadings, len(out))])
		}
		b.sending.Done()
	}
	if arm {
		time.AfterFunc(b.linger, b.flush)
	}
}

// flush sends what waits.
func (b *gossipBatcher) flush() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	rs := b.pending
	b.pending = nil
	b.armed = false
	b.sending.Add(1)
	b.mu.Unlock()
	defer b.sending.Done()
	if len(rs) > 0 {
		b.send(rs)
	}
}

// close drops what waits and sends nothing more: the node is stopping, and
// its readings are in its own mempool, which it keeps no longer either. It
// returns once the sends under way have returned, so that none starts
// after the node has begun waiting for its goroutines.
func (b *gossipBatcher) close() {
	b.mu.Lock()
	b.closed = true
	b.pending = nil
	b.mu.Unlock()
	b.sending.Wait()
}
