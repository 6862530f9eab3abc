package chain

import (
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for the RFC 6962 hasher
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Entries roots and inclusion proofs follow RFC 6962 (the Certificate
// Transparency Merkle tree): leaf hash SHA-256(0x00 || leaf), node hash
// SHA-256(0x01 || left || right), empty root SHA-256("").

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
	if len(leaves) == 0 {
		var h Hash
		copy(h[:], hasher.EmptyRoot())
		return h
	}
	r := rangeFactory.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(hasher.HashLeaf(l), nil); err != nil {
			panic(fmt.Sprintf("chain: merkle append: %v", err)) // cannot happen for a range starting at 0
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("chain: merkle root: %v", err))
	}
	var h Hash
	copy(h[:], root)
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
