package p2p

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/waterchain/waterchain/chain"
)

// gater admits only peers whose node key is in the allowed set: it refuses
// to dial others, and refuses connections in either direction once the
// security handshake has proven the remote's key.
type gater struct {
	mu      sync.RWMutex // guards allowed
	allowed map[peer.ID]struct{}
	onDeny  func(dir network.Direction, id peer.ID)
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func newGater(keys []chain.PubKey, onDeny func(network.Direction, peer.ID)) (*gater, error) {
	g := &gater{onDeny: onDeny}
	if err := g.set(keys); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *gater) set(keys []chain.PubKey) error {
	allowed := make(map[peer.ID]struct{}, len(keys))
	for _, k := range keys {
		id, err := PeerIDFromKey(k)
		if err != nil {
			return err
		}
		allowed[id] = struct{}{}
	}
	g.mu.Lock()
	g.allowed = allowed
	g.mu.Unlock()
	return nil
}

func (g *gater) allows(id peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.allowed[id]
	return ok
}

func (g *gater) InterceptPeerDial(id peer.ID) bool {
	if g.allows(id) {
		return true
	}
	g.onDeny(network.DirOutbound, id)
	return false
}

func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept admits every incoming connection: the remote's key is not
// known until the security handshake, where InterceptSecured decides.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(dir network.Direction, id peer.ID, _ network.ConnMultiaddrs) bool {
	if g.allows(id) {
		return true
	}
	g.onDeny(dir, id)
	return false
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
