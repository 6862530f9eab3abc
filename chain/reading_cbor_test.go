package chain

import (
	"bytes"
	"math"
	"testing"

	"pgregory.net/rapid"
)

// readingPlain has Reading's fields and tags but not its methods, so the
// generic encoder encodes it field by field.
type readingPlain Reading

// cborEdgeInt draws integers around every CBOR head-size boundary.
func cborEdgeInt(t *rapid.T, label string) int64 {
	edges := []int64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64}
	switch rapid.IntRange(0, 2).Draw(t, label+"-kind") {
	case 0:
		e := rapid.SampledFrom(edges).Draw(t, label+"-edge")
		if rapid.Bool().Draw(t, label+"-neg") {
			return -e - 1 // -1, -24, -25, ..., MinInt64
		}
		return e
	case 1:
		return rapid.Int64Range(-1000, 1000).Draw(t, label)
	}
	return rapid.Int64().Draw(t, label)
}

func TestReadingCBORMatchesGeneric(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var r Reading
		copy(r.Device[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "device"))
		r.Seq = uint64(cborEdgeInt(t, "seq"))
		r.Time = Time(cborEdgeInt(t, "time"))
		r.FlowRate = cborEdgeInt(t, "flow")
		r.Volume = cborEdgeInt(t, "volume")
		r.VolumeTotal = cborEdgeInt(t, "total")
		r.Conductivity = cborEdgeInt(t, "cond")
		r.SuspendedSolids = cborEdgeInt(t, "ss")
		r.Absorbance = cborEdgeInt(t, "abs")
		r.Turbidity = cborEdgeInt(t, "turb")
		if rapid.Bool().Draw(t, "image") {
			var h Hash
			copy(h[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "hash"))
			r.ImageHash = &h
		}
		switch rapid.IntRange(0, 3).Draw(t, "sig-kind") {
		case 0: // nil
		case 1:
			r.Sig = Signature{}
		case 2:
			r.Sig = rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "sig")
		case 3:
			r.Sig = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "sig-odd")
		}
		want, err := encMode.Marshal((*readingPlain)(&r))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("Encode:\n got %x\nwant %x", got, want)
		}
		if got := MustEncode(&r); !bytes.Equal(got, want) {
			t.Fatalf("MustEncode:\n got %x\nwant %x", got, want)
		}
		// Encode and MarshalCBOR allocate the encoding's length exactly.
		if n := r.EncodingLen(); n != len(want) {
			t.Fatalf("EncodingLen %d, the encoding has %d bytes", n, len(want))
		}
		if got, err := r.MarshalCBOR(); err != nil || !bytes.Equal(got, want) || cap(got) != len(want) {
			t.Fatalf("MarshalCBOR (%v), capacity %d:\n got %x\nwant %x", err, cap(got), got, want)
		}
		if got := r.Encode(); cap(got) != len(want) {
			t.Fatalf("Encode: capacity %d for %d bytes", cap(got), len(want))
		}
		prefix := []byte{0xde, 0xad}
		if got := r.AppendEncoding(prefix[:2:2]); !bytes.Equal(got, append(prefix, want...)) {
			t.Fatalf("AppendEncoding after a prefix: %x", got)
		}
		unsigned := readingPlain(r)
		unsigned.Sig = nil
		want, _ = encMode.Marshal(&unsigned)
		if got := r.SigningBytes(); !bytes.Equal(got, want) || cap(got) != len(want) {
			t.Fatalf("SigningBytes, capacity %d:\n got %x\nwant %x", cap(got), got, want)
		}
		// A block's readings go through the generic encoder, which calls
		// MarshalCBOR; what it gives must decode back strictly.
		var back Reading
		if err := Decode(r.Encode(), &back); err != nil {
			t.Fatalf("Decode(Encode): %v", err)
		}
	})
}

// TestReadingEncodingCap: the widest signed reading (every integer at its
// widest CBOR head, an image hash, a 64-byte signature) encodes within
// ReadingEncodingCap.
func TestReadingEncodingCap(t *testing.T) {
	h := Hash{1}
	r := Reading{
		Seq: math.MaxUint64, Time: math.MinInt64,
		FlowRate: math.MinInt64, Volume: math.MaxInt64, VolumeTotal: math.MinInt64,
		Conductivity: math.MinInt64, SuspendedSolids: math.MinInt64, Absorbance: math.MinInt64, Turbidity: math.MinInt64,
		ImageHash: &h, Sig: make(Signature, 64),
	}
	if n := len(r.Encode()); n != 228 || n > ReadingEncodingCap {
		t.Fatalf("widest reading encodes to %d bytes, want 228 (at most ReadingEncodingCap, %d)", n, ReadingEncodingCap)
	}
}
