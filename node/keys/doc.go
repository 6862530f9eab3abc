// Package keys owns ed25519 key files: node keys (a node's identity for
// consensus and libp2p) and account keys (of industries and regulators).
//
// A key file is JSON:
//
//	{"type": "ed25519", "public_key": "<64 hex digits>", "private_key": "<64 hex digits: the seed>"}
//
// written with mode 0600. New and Save never replace an existing file: a
// lost node key cannot be recovered, and a replaced validator key makes the
// node a stranger to its network. Load refuses a file that group or others
// may read, as ssh does, so a leaked key is noticed before it is used; and
// it checks that the public key matches the seed, which catches a file that
// was edited or damaged.
package keys
