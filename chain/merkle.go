package chain

import (
	"crypto"
	"crypto/sha256" // also registers SHA-256 for the RFC 6962 hasher
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Entries roots and inclusion proofs follow RFC 6962 (the Certificate
// Transparency Merkle tree): leaf hash SHA-256(0x00 || leaf), node hash
// SHA-256(0x01 || left || right), empty root SHA-256("").

// rfc6962LeafPrefix starts the bytes an RFC 6962 leaf hash is taken of.
const rfc6962LeafPrefix = rfc6962.RFC6962LeafHashPrefix

var (
	hasher       = rfc6962.New(crypto.SHA256)
	rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// LeafHash is the RFC 6962 hash of one entry's canonical encoding.
func LeafHash(leaf []byte) Hash {
	var h Hash
	copy(h[:], hasher.HashLeaf(leaf))
	return h
}

// MerkleRoot is the RFC 6962 root of leaves in order.
func MerkleRoot(leaves [][]byte) Hash {
	var t rootBuilder
	for _, l := range leaves {
		t.add(l)
	}
	return t.root()
}

// rootBuilder computes an RFC 6962 root one leaf at a time, in O(log n)
// space and without allocating: every node checks each block's entries
// root, over thousands of readings, and the general compact range
// allocated each leaf's and node's hash. TestMerkleRootMatchesRFC6962 and
// TestRootBuilderMatchesCompactRange hold it to the RFC and to that
// library.
//
// perfect[i] is the root of the i-th perfect subtree from the left; with n
// leaves added there is one for each bit set in n, largest first, so
// adding a leaf merges the trailing ones as a binary counter carries.
type rootBuilder struct {
	n       uint64
	perfect [64]Hash
	depth   int    // perfect subtrees held
	buf     []byte // the prefixed leaf being hashed
}

// add appends a leaf (an entry's canonical encoding).
func (t *rootBuilder) add(leaf []byte) {
	t.buf = append(append(t.buf[:0], rfc6962.RFC6962LeafHashPrefix), leaf...)
	t.addLeafHash(sha256.Sum256(t.buf))
}

// addLeafHash appends a leaf by its RFC 6962 leaf hash.
func (t *rootBuilder) addLeafHash(h Hash) {
	for c := t.n; c&1 == 1; c >>= 1 {
		t.depth--
		h = hashChildren(&t.perfect[t.depth], &h)
	}
	t.perfect[t.depth] = h
	t.depth++
	t.n++
}

// hashChildren is the RFC 6962 hash of an inner node.
func hashChildren(left, right *Hash) Hash {
	var b [1 + 2*len(Hash{})]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], left[:])
	copy(b[1+len(Hash{}):], right[:])
	return sha256.Sum256(b[:])
}

// root is the root of the leaves added so far.
func (t *rootBuilder) root() Hash {
	if t.depth == 0 {
		return sha256.Sum256(nil)
	}
	h := t.perfect[t.depth-1]
	for i := t.depth - 2; i >= 0; i-- {
		h = hashChildren(&t.perfect[i], &h)
	}
	return h
}

// InclusionProof returns the RFC 6962 audit path of leaf index among leaves.
func InclusionProof(leaves [][]byte, index int) ([]Hash, error) {
	size := uint64(len(leaves))
	if index < 0 || uint64(index) >= size {
		return nil, fmt.Errorf("leaf %d out of range of %d entries", index, size)
	}
	nodes := make(map[compact.NodeID][]byte)
	r := rangeFactory.NewEmptyRange(0)
	visit := func(id compact.NodeID, h []byte) { nodes[id] = h }
	for _, l := range leaves {
		if err := r.Append(hasher.HashLeaf(l), visit); err != nil {
			return nil, err
		}
	}
	plan, err := proof.Inclusion(uint64(index), size)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(plan.IDs))
	for i, id := range plan.IDs {
		h, ok := nodes[id]
		if !ok {
			return nil, fmt.Errorf("merkle node %+v missing", id)
		}
		hashes[i] = h
	}
	path, err := plan.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, err
	}
	out := make([]Hash, len(path))
	for i, p := range path {
		copy(out[i][:], p)
	}
	return out, nil
}

// VerifyInclusion checks that leaf is entry index of a tree of size entries
// with the given root.
func VerifyInclusion(leaf []byte, index, size uint64, path []Hash, root Hash) error {
	p := make([][]byte, len(path))
	for i := range path {
		p[i] = path[i][:]
	}
	return proof.VerifyInclusion(hasher, index, size, hasher.HashLeaf(leaf), p, root[:])
}
