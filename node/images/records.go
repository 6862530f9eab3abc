package images

import (
	"errors"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/imaging"
)

// Image records live in the node's KV under the prefix chain/store
// reserves for them (store.PrefixImages, 'i'), through the view
// store.Reserve returns, so none can collide with chain data or be read as
// it. Within the view, the first byte names the record:
//
//	f<hash:32>      the image file, as uploaded
//	a<hash:32>      its metadata: meta (format, size, analysis, store time), CBOR
//	r<hash:32>      the first final reading naming the hash: ref, CBOR
//	m<hash:32>      missing here: when this node noticed (Unix ms, 8 bytes)
//	c<device:32>    the class of the device's latest analysed frame: classState, CBOR
//	h               the data height Index has reached (8 bytes)
//
// In the KV each key is so 'i' followed by the above, the layout nodes
// wrote before this package existed: their records read as they are.
// A file and its metadata are written in one batch, so a node holds both
// or neither.
const (
	keyFile    = 'f'
	keyMeta    = 'a'
	keyRef     = 'r'
	keyMissing = 'm'
	keyClass   = 'c'
	keyIndexed = 'h'
)

func recordKey(kind byte, id []byte) []byte {
	k := make([]byte, 0, 1+len(id))
	return append(append(k, kind), id...)
}

// Errors of the image store (wrapped with the values involved, inside an
// *api.HTTPError where a client sees them).
var (
	// ErrUnreferenced means no reading this node knows names the hash: an
	// image is only accepted for a reading waiting in the mempool or final
	// on the data chain.
	ErrUnreferenced = errors.New("no reading refers to the image")
	// ErrNotHeld means this node does not hold the image (not uploaded
	// here, not fetched yet, or never uploaded anywhere).
	ErrNotHeld = errors.New("image not held by this node")
	// ErrRecord means a stored image record does not decode: the KV is
	// damaged.
	ErrRecord = errors.New("corrupt image record")
	// ErrBadRequest means a peer's Protocol request is not a nonzero
	// 32-byte hash.
	ErrBadRequest = errors.New("bad image request")
	// ErrNoPeers means an image could not be fetched: no peer is connected.
	ErrNoPeers = errors.New("no peers to fetch the image from")
	// ErrConfig means a Config field is out of range.
	ErrConfig = errors.New("invalid images config")
)

// meta is what is stored beside an image file.
type meta struct {
	Format   imaging.Format   `cbor:"1,keyasint"`
	Size     uint32           `cbor:"2,keyasint"`
	Analysis imaging.Analysis `cbor:"3,keyasint"`
	// StoredAt is when this node stored (or last refreshed) the file, by
	// its clock. Records written before it existed lack it (0): they
	// count as stored when the node started (storedAt).
	StoredAt chain.Time `cbor:"4,keyasint,omitempty"`
}

// ref names the reading an image belongs to.
type ref struct {
	Device chain.PubKey `cbor:"1,keyasint"`
	Seq    uint64       `cbor:"2,keyasint"`
}

// classState is a device's latest analysed frame, for the class-change
// alert.
type classState struct {
	Seq   uint64        `cbor:"1,keyasint"`
	Class imaging.Class `cbor:"2,keyasint"`
}
