package chain

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

func BenchmarkReadingEncode(b *testing.B) {
	r := validReading(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Encode()
	}
}

func BenchmarkReadingDecode(b *testing.B) {
	data := validReading(b, 1).Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeReading(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadingSign(b *testing.B) {
	r := validReading(b, 1)
	k := testKey(b, "device-1")
	for b.Loop() {
		r.Sign(testChainID, k)
	}
}

func BenchmarkReadingVerify(b *testing.B) {
	r := validReading(b, 1)
	for b.Loop() {
		if err := r.VerifySignature(testChainID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the raw verify cost the reading path is
// compared against.
func BenchmarkEd25519Verify(b *testing.B) {
	k := testKey(b, "raw")
	msg := make([]byte, 32)
	sig := ed25519.Sign(k.Ed25519(), msg)
	pub := k.Public()
	for b.Loop() {
		if !ed25519.Verify(pub[:], msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkMerkleRoot(b *testing.B) {
	for _, n := range []int{1000} {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = validReading(b, uint64(i+1)).Encode()
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			for b.Loop() {
				_ = MerkleRoot(leaves)
			}
		})
	}
}

// BenchmarkEntriesRoot is a data block's entries root, which every node
// computes for each block it receives (Block.ValidateBasic, and a compact
// proposal's root check).
func BenchmarkEntriesRoot(b *testing.B) {
	blk := &Block{Header: Header{Lane: LaneData}}
	for i := range 1000 {
		blk.Readings = append(blk.Readings, validReading(b, uint64(i+1)))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = blk.ComputeEntriesRoot()
	}
}

func BenchmarkReadingHash(b *testing.B) {
	r := validReading(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Hash()
	}
}

// benchSink keeps what a benchmark encodes on the heap, as a caller
// that sends or stores it does.
var benchSink []byte

// BenchmarkReadingMarshalCBOR is what the generic encoder calls for each
// reading of a block or a message it encodes.
func BenchmarkReadingMarshalCBOR(b *testing.B) {
	r := validReading(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		benchSink, _ = r.MarshalCBOR()
	}
}

// BenchmarkHeaderHash is a block hash, which every node computes for
// each block it builds, receives, votes on or stores.
func BenchmarkHeaderHash(b *testing.B) {
	blk, _, _ := validBlock(b, 25)
	b.ReportAllocs()
	for b.Loop() {
		_ = blk.Header.Hash()
	}
}

// BenchmarkHeaderEncode is chain.Encode of a header (the store's lane
// heads, proofs).
func BenchmarkHeaderEncode(b *testing.B) {
	blk, _, _ := validBlock(b, 25)
	b.ReportAllocs()
	for b.Loop() {
		benchSink = MustEncode(&blk.Header)
	}
}

// BenchmarkBlockEncode and BenchmarkBlockDecode: a certified data block of
// 25 readings (a block at 500 readings/s) through the generic encoder, as
// proposals and the consensus WAL carry blocks; decoding re-encodes to
// check the canonical form.
func BenchmarkBlockEncode(b *testing.B) {
	blk, _, _ := validBlock(b, 25)
	b.ReportAllocs()
	for b.Loop() {
		benchSink = MustEncode(blk)
	}
}

func BenchmarkBlockDecode(b *testing.B) {
	blk, _, _ := validBlock(b, 25)
	data := MustEncode(blk)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBlock(data); err != nil {
			b.Fatal(err)
		}
	}
}
