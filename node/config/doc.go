// Package config owns the node's configuration file, config.toml in the
// node home: where the node listens (p2p, HTTP API, MQTT), whom it dials
// first, how it logs, and the sizes of its queues and stores.
//
// Load starts from Default and applies the file over it, so a file names
// only what it changes. Loading is strict: a key the Config does not have
// is an error naming the key and its line, because a misspelt key silently
// ignored is a setting that silently does not apply. Load validates; a
// caller that changes a Config afterwards (the run command applies its
// flags) must call Validate again.
//
// What the network agrees on (chain id, validators, timeouts, rewards) is
// not here but in the genesis file: config.toml holds only what each node
// may choose for itself.
package config
