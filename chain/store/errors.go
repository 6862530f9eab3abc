package store

import (
	"errors"
	"fmt"
)

// Errors of Store. ErrNotFound and ErrClosed (kv.go) are shared with KV.
var (
	// ErrCorrupt is returned (wrapped, naming the key) when stored bytes do
	// not decode or disagree with the key they are stored under. The
	// store cannot be trusted: move it aside and resync the node.
	ErrCorrupt = errors.New("store corrupt")
	// ErrSchema is returned by Open for a store written with another key
	// layout than this version's.
	ErrSchema = errors.New("unsupported store schema")
	// ErrInvalidBlock is returned by Commit for a block whose shape is
	// wrong whatever the store holds: nil, unknown lane, entries not of
	// the lane or not the count the header says.
	ErrInvalidBlock = errors.New("invalid block")
	// ErrMissingCert is returned by Commit for a block without its commit
	// certificate.
	ErrMissingCert = errors.New("block has no commit certificate")
	// ErrCertMismatch is returned by Commit when the certificate is for
	// another lane, height or block hash than the block.
	ErrCertMismatch = errors.New("certificate does not match the block")
	// ErrNotNext is returned by Commit for a block that does not extend the
	// lane head: a height other than head+1, or a previous hash that is
	// not the head's (or, at height 1, not the genesis hash).
	ErrNotNext = errors.New("block does not extend the lane head")
	// ErrInvalidChange is returned by Commit and InitGenesis for a state
	// change with an empty or oversize key.
	ErrInvalidChange = errors.New("invalid state change")
	// ErrNoGenesis is returned by CheckGenesis and GenesisHash for a store
	// in which no genesis has been recorded.
	ErrNoGenesis = errors.New("store has no genesis")
	// ErrGenesisMismatch is returned by CheckGenesis and InitGenesis when
	// the store was created for another genesis.
	ErrGenesisMismatch = errors.New("store belongs to another genesis")
)

// corrupt reports stored bytes under key that cannot be what the key says.
func corrupt(key []byte, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s (move the data directory aside and resync the node)", ErrCorrupt, keyName(key), fmt.Sprintf(format, args...))
}
