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

// ReadCBORHead reads back what AppendCBORHead writes, at every size
// boundary and for every major type, and refuses what canonical CBOR
// does not write: a longer form than the shortest, an indefinite length,
// the reserved additional values, a head cut short.
func TestReadCBORHead(t *testing.T) {
	for major := range byte(8) {
		for _, v := range []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1} {
			b := append([]byte{0xaa}, chain.AppendCBORHead(nil, major, v)...)
			gotMajor, got, next, ok := chain.ReadCBORHead(b, 1)
			if !ok || gotMajor != major || got != v || next != len(b) {
				t.Errorf("major %d, %d: read %d, %d, next %d of %d, ok %v", major, v, gotMajor, got, next, len(b), ok)
			}
			for cut := 1; cut < len(b); cut++ {
				if _, _, _, ok := chain.ReadCBORHead(b[:cut], 1); ok {
					t.Errorf("major %d, %d: read from %d of its %d bytes", major, v, cut-1, len(b)-1)
				}
			}
		}
	}
	for _, b := range [][]byte{
		{0x18, 0x17},                               // 23 in one byte more than needed
		{0x19, 0x00, 0xff},                         // 255 in two bytes
		{0x1a, 0x00, 0x00, 0xff, 0xff},             // 65535 in four
		{0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, // 2^32-1 in eight
		{0x9f}, // an indefinite-length array
		{0x1c}, // reserved
		{},     // nothing
	} {
		if major, v, _, ok := chain.ReadCBORHead(b, 0); ok {
			t.Errorf("% x: read major %d, %d; want refused", b, major, v)
		}
	}
}
