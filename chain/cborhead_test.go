package chain_test

import (
	"bytes"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// AppendCBORHead writes the head the canonical encoder writes, at every
// size boundary, for arrays (which the store and block sync assemble) and
// byte strings.
func TestAppendCBORHead(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536} {
		enc := chain.MustEncode(make([]bool, n))
		want := enc[:len(enc)-n] // each false is one byte
		if got := chain.AppendCBORHead(nil, 4, uint64(n)); !bytes.Equal(got, want) {
			t.Errorf("head of an array of %d items: % x, want % x", n, got, want)
		}
		enc = chain.MustEncode(make([]byte, n))
		want = enc[:len(enc)-n]
		if got := chain.AppendCBORHead(nil, 2, uint64(n)); !bytes.Equal(got, want) {
			t.Errorf("head of %d bytes: % x, want % x", n, got, want)
		}
	}
}
