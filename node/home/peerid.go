package home

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/waterchain/waterchain/chain"
)

// PeerID is the libp2p peer ID of a node key: the identity the node's
// libp2p host has, since the node key is its libp2p key.
func PeerID(nodeKey chain.PubKey) (peer.ID, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(nodeKey[:])
	if err != nil {
		return "", fmt.Errorf("node key %s: %w", nodeKey.Short(), err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", fmt.Errorf("node key %s: %w", nodeKey.Short(), err)
	}
	return id, nil
}
