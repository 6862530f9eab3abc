package p2p

import (
	"crypto/ed25519"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/waterchain/waterchain/chain"
)

// PeerIDFromKey returns the libp2p peer ID of a node key. An ed25519 key is
// inlined in its peer ID, so the conversion is exact both ways.
func PeerIDFromKey(k chain.PubKey) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(k[:])
	if err != nil {
		return "", fmt.Errorf("p2p: node key %s: %w", k.Short(), err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("p2p: node key %s: %w", k.Short(), err)
	}
	return id, nil
}

// KeyOfPeer returns the node key a peer ID inlines, and false for a peer ID
// that is not an inlined ed25519 key.
func KeyOfPeer(id peer.ID) (chain.PubKey, bool) {
	pub, err := id.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return chain.PubKey{}, false
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return chain.PubKey{}, false
	}
	var k chain.PubKey
	copy(k[:], raw)
	return k, true
}

// identity converts the node key into a libp2p private key.
func identity(priv ed25519.PrivateKey) (crypto.PrivKey, chain.PubKey, error) {
	sk, err := crypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		return nil, chain.PubKey{}, fmt.Errorf("%w: PrivateKey: %v", ErrConfig, err)
	}
	var pub chain.PubKey
	copy(pub[:], priv.Public().(ed25519.PublicKey))
	return sk, pub, nil
}
