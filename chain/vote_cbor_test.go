package chain

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// votePlain has Vote's fields and tags but not its methods, so the generic
// encoder encodes it field by field even if Vote gains a MarshalCBOR.
type votePlain Vote

// fatalHelper is what checkVoteCBOR needs of a *testing.T or *rapid.T.
type fatalHelper interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// checkVoteCBOR: v's hand-written encodings are the generic encoder's
// bytes (chain.Encode, MustEncode and the old SigningBytes), appended
// after what dst held, and a signed vote decodes back to itself.
func checkVoteCBOR(t fatalHelper, v *Vote) {
	t.Helper()
	want, err := encMode.Marshal((*votePlain)(v))
	if err != nil {
		t.Fatal(err)
	}
	if enc, err := Encode(v); err != nil || !bytes.Equal(enc, want) {
		t.Fatalf("Encode differs from the plain struct's encoding (%v): %x, %x", err, enc, want)
	}
	if got := v.AppendEncoding(nil); !bytes.Equal(got, want) {
		t.Fatalf("AppendEncoding of %s:\n got %x\nwant %x", v, got, want)
	}
	if got := MustEncode(v); !bytes.Equal(got, want) {
		t.Fatalf("MustEncode of %s:\n got %x\nwant %x", v, got, want)
	}
	prefix := []byte{0xde, 0xad}
	if got := v.AppendEncoding(prefix[:2:2]); !bytes.Equal(got, append(prefix, want...)) {
		t.Fatalf("AppendEncoding after a prefix: %x", got)
	}
	if len(v.Sig) == 64 && len(want) > VoteEncodingCap {
		t.Fatalf("a signed vote encodes to %d bytes, over VoteEncodingCap (%d)", len(want), VoteEncodingCap)
	}

	unsigned := votePlain(*v)
	unsigned.Sig = nil
	wantSigning, err := encMode.Marshal(&unsigned)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.SigningBytes(); !bytes.Equal(got, wantSigning) {
		t.Fatalf("SigningBytes of %s:\n got %x\nwant %x", v, got, wantSigning)
	}
	if got := v.AppendSigningBytes(prefix[:2:2]); !bytes.Equal(got, append(prefix, wantSigning...)) {
		t.Fatalf("AppendSigningBytes after a prefix: %x", got)
	}

	var back Vote
	if err := Decode(want, &back); err != nil {
		t.Fatalf("Decode(AppendEncoding(%s)): %v", v, err)
	}
	if len(v.Sig) == 0 {
		back.Sig = v.Sig // nil and empty encode alike
	}
	if !reflect.DeepEqual(&back, v) {
		t.Fatalf("decoded %+v, want %+v", back, *v)
	}
}

// TestVoteCBORMatchesGeneric: both vote types, both lanes, heights and
// rounds at every CBOR head-size boundary, a nil vote (zero hash), with
// and without a signature, and out-of-range values the encoder still
// writes (an unknown type or lane, a signature of the wrong length).
func TestVoteCBORMatchesGeneric(t *testing.T) {
	key := testKey(t, "v")
	heights := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	rounds := []uint32{0, 1, 23, 24, 255, 256, 65535, 65536, MaxRound, math.MaxUint32}
	n := 0
	for _, typ := range []VoteType{Prevote, Precommit, 0, 24, 255} {
		for _, lane := range []Lane{LaneData, LaneTx, 0, 200} {
			for _, block := range []Hash{{}, HashBytes([]byte("block"))} {
				for i, height := range heights {
					round := rounds[(i+int(typ)+int(lane))%len(rounds)]
					v := &Vote{Type: typ, Lane: lane, Height: height, Round: round, BlockHash: block, Validator: key.Public()}
					checkVoteCBOR(t, v) // unsigned
					v.Sign(testChainID, key)
					checkVoteCBOR(t, v)
					if err := v.VerifySignature(testChainID); err != nil {
						t.Fatalf("%s: %v", v, err)
					}
					for _, sig := range []Signature{{}, {1}, make(Signature, 24), make(Signature, 300)} {
						u := *v
						u.Sig = sig
						checkVoteCBOR(t, &u)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d votes, each unsigned, signed and with odd signatures", n)
}

func TestVoteCBORMatchesGenericRandom(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := &Vote{
			Type:   VoteType(rapid.Uint8().Draw(t, "type")),
			Lane:   Lane(rapid.Uint8().Draw(t, "lane")),
			Height: uint64(cborEdgeInt(t, "height")),
			Round:  rapid.Uint32().Draw(t, "round"),
		}
		if rapid.Bool().Draw(t, "non-nil") {
			copy(v.BlockHash[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "hash"))
		}
		copy(v.Validator[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "validator"))
		switch rapid.IntRange(0, 3).Draw(t, "sig-kind") {
		case 0: // nil
		case 1:
			v.Sig = Signature{}
		case 2:
			v.Sig = rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "sig")
		case 3:
			v.Sig = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "sig-odd")
		}
		checkVoteCBOR(t, v)
	})
}

// TestVoteEncodingCap: the widest signed vote encodes to VoteEncodingCap
// bytes exactly.
func TestVoteEncodingCap(t *testing.T) {
	v := &Vote{Type: math.MaxUint8, Lane: math.MaxUint8, Height: math.MaxUint64, Round: math.MaxUint32, Sig: make(Signature, 64)}
	if n := len(v.AppendEncoding(nil)); n != VoteEncodingCap {
		t.Fatalf("widest vote encodes to %d bytes, want VoteEncodingCap (%d)", n, VoteEncodingCap)
	}
}

func FuzzVoteCBORMatchesGeneric(f *testing.F) {
	v := validVote(f, Precommit, "v", HashBytes([]byte("a")))
	f.Add(uint8(v.Type), uint8(v.Lane), v.Height, v.Round, v.BlockHash[:], v.Validator[:], []byte(v.Sig))
	f.Add(uint8(Prevote), uint8(LaneTx), uint64(math.MaxUint64), uint32(MaxRound), []byte{}, v.Validator[:], []byte{})
	f.Add(uint8(24), uint8(0), uint64(24), uint32(65536), []byte{1}, []byte{}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, typ, lane uint8, height uint64, round uint32, hash, validator, sig []byte) {
		v := &Vote{Type: VoteType(typ), Lane: Lane(lane), Height: height, Round: round, Sig: sig}
		copy(v.BlockHash[:], hash)
		copy(v.Validator[:], validator)
		checkVoteCBOR(t, v)
	})
}

// voteBenchSink keeps the signing bytes a benchmark builds on the heap,
// as they are in a signature check.
var voteBenchSink []byte

// BenchmarkVoteSigningBytes: a signed vote's signing bytes by hand
// (SigningBytes) and by the generic encoder (what SigningBytes was), and
// its consensus key (the hash of its encoding) both ways.
//
//	go test ./chain -run '^$' -bench Vote -benchmem
func BenchmarkVoteSigningBytes(b *testing.B) {
	v := validVote(b, Precommit, "v", HashBytes([]byte("a")))
	v.Height, v.Round = 123_456, 2
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"SigningBytes", func() { voteBenchSink = v.SigningBytes() }},
		{"generic", func() { u := *v; u.Sig = nil; voteBenchSink = MustEncode(&u) }},
		{"key/AppendEncoding", func() { var buf [VoteEncodingCap]byte; _ = HashBytes(v.AppendEncoding(buf[:0])) }},
		{"key/generic", func() { _ = HashBytes(MustEncode(v)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.fn()
			}
		})
	}
}
