// Package home owns the node home directory and the generator of whole
// multi-node networks.
//
// A node home holds everything one node needs:
//
//	DIR/config.toml     the node's own settings (package node/config)
//	DIR/node_key.json   its ed25519 node key, mode 0600 (package node/keys)
//	DIR/genesis.json    the network's genesis, byte for byte as given
//	DIR/data/           badger database (storage.data_dir)
//	DIR/wal/            consensus write-ahead log (storage.wal_dir)
//
// Init makes one from a genesis file and, optionally, an existing key; it
// never overwrites an existing home. Open checks that a directory is a home
// before a node runs from it.
//
// WriteNetwork makes a whole network at once for "waterchain testnet" and
// "waterchain devnet": keys for every node and account, a genesis naming
// them, one home per node listening on its own loopback ports and
// bootstrapping from all the others, the account keys under DIR/accounts/,
// and a manifest (DIR/testnet.json) listing each node's name, role, API URL
// and home for scripts.
//
// Peer IDs are computed here (PeerID), not in genesis: genesis stays free of
// libp2p.
package home
