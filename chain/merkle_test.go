package chain

import (
	"crypto/sha256"
	"fmt"
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
