package chain

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
)

// refRoot is RFC 6962's MTH, written from the RFC's definition.
func refRoot(leaves [][]byte) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := refRoot(leaves[:k]), refRoot(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func TestMerkleRootMatchesRFC6962(t *testing.T) {
	for n := 0; n <= 33; n++ {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = []byte(fmt.Sprintf("leaf-%d", i))
		}
		root := MerkleRoot(leaves)
		if want := refRoot(leaves); root != want {
			t.Fatalf("n=%d: root %s, RFC 6962 gives %s", n, root, want)
		}
		for i := range leaves {
			path, err := InclusionProof(leaves, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(leaves[i], uint64(i), uint64(n), path, root); err != nil {
				t.Fatalf("n=%d leaf %d: %v", n, i, err)
			}
			if err := VerifyInclusion([]byte("forged"), uint64(i), uint64(n), path, root); err == nil {
				t.Fatalf("n=%d leaf %d: forged leaf verified", n, i)
			}
		}
	}
}

// compactRangeRoot is the root the general compact range gives, which
// MerkleRoot used before rootBuilder.
func compactRangeRoot(t *testing.T, leaves [][]byte) Hash {
	if len(leaves) == 0 {
		return sha256.Sum256(nil)
	}
	r := rangeFactory.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(hasher.HashLeaf(l), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return Hash(root)
}

func TestRootBuilderMatchesCompactRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 3))
	sizes := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 1023, 1024, 1025, 4097}
	for range 20 {
		sizes = append(sizes, rng.IntN(3000))
	}
	for _, n := range sizes {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = make([]byte, rng.IntN(300))
			for j := range leaves[i] {
				leaves[i][j] = byte(rng.Uint32())
			}
		}
		if got, want := MerkleRoot(leaves), compactRangeRoot(t, leaves); got != want {
			t.Fatalf("n=%d: root %s, compact range %s", n, got, want)
		}
	}
}

// TestComputeEntriesRoot: a block's entries root is the root of its
// leaves, on both lanes.
func TestComputeEntriesRoot(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100, 257} {
		data := &Block{Header: Header{Lane: LaneData}}
		txs := &Block{Header: Header{Lane: LaneTx}}
		for i := range n {
			r := validReading(t, uint64(i+1))
			if i%3 == 0 {
				h := HashBytes([]byte{byte(i)})
				r.ImageHash = &h
			}
			data.Readings = append(data.Readings, r)
			txs.Txs = append(txs.Txs, &Tx{Nonce: uint64(i + 1), Transfer: &Transfer{Amount: uint64(i + 1)}})
		}
		for _, b := range []*Block{data, txs} {
			if got, want := b.ComputeEntriesRoot(), MerkleRoot(b.Leaves()); got != want || got != refRoot(b.Leaves()) {
				t.Fatalf("%s, %d entries: root %s, leaves give %s", b.Header.Lane, n, got, want)
			}
		}
		for i, r := range data.Readings {
			if r.Hash() != HashBytes(r.Encode()) {
				t.Fatalf("reading %d: Hash is not the hash of its encoding", i)
			}
		}
	}
}
