package p2p

import (
	"crypto/ed25519"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/waterchain/waterchain/chain"
)

// peerIDPrefix is what precedes an ed25519 key in its libp2p peer ID. Keys
// of at most 42 bytes are inlined in the ID as an identity multihash (code
// 0x00, length 36) of the key's protobuf encoding: field 1, the key type
// (1, Ed25519), then field 2, the key's 32 bytes. TestPeerIDMatchesLibp2p
// holds both conversions to libp2p's own (crypto and peer packages).
var peerIDPrefix = [...]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}

// PeerIDFromKey returns the libp2p peer ID of a node key. An ed25519 key is
// inlined in its peer ID, so the conversion is exact both ways. It is
// built here byte by byte, where libp2p's conversion marshals a protobuf
// message: nodes convert for every direct message they send (SendAll
// sends each vote to every validator). The error is always nil; it stays
// for callers written when the conversion could fail.
func PeerIDFromKey(k chain.PubKey) (peer.ID, error) {
	var b [len(peerIDPrefix) + len(k)]byte
	copy(b[:], peerIDPrefix[:])
	copy(b[len(peerIDPrefix):], k[:])
	return peer.ID(b[:]), nil
}

// KeyOfPeer returns the node key a peer ID inlines, and false for a peer ID
// that is not an inlined ed25519 key.
func KeyOfPeer(id peer.ID) (chain.PubKey, bool) {
	var k chain.PubKey
	if len(id) != len(peerIDPrefix)+len(k) || id[:len(peerIDPrefix)] != peer.ID(peerIDPrefix[:]) {
		return chain.PubKey{}, false
	}
	copy(k[:], id[len(peerIDPrefix):])
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
