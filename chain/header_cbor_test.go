package chain

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// headerPlain has Header's fields and tags but not its methods, so the
// generic encoder encodes it field by field, as it did before Header had
// a MarshalCBOR: its bytes are the reference the hand-written encoder is
// held to.
type headerPlain Header

// blockPlainHeader is Block with a headerPlain: a block as the generic
// encoder encoded it before Header had a MarshalCBOR.
type blockPlainHeader struct {
	Header   headerPlain  `cbor:"1,keyasint"`
	Readings []*Reading   `cbor:"2,keyasint,omitempty"`
	Txs      []*Tx        `cbor:"3,keyasint,omitempty"`
	Cert     *Certificate `cbor:"4,keyasint,omitempty"`
}

// checkHeaderCBOR: h's hand-written encoding is the generic encoder's
// bytes, appended after what dst held; Hash is their SHA-256; Encode and
// MustEncode give them (through MarshalCBOR), alone and inside a block;
// and a header with a valid UTF-8 chain id decodes back to itself.
func checkHeaderCBOR(t fatalHelper, h *Header) {
	t.Helper()
	want, err := encMode.Marshal((*headerPlain)(h))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.AppendEncoding(nil); !bytes.Equal(got, want) {
		t.Fatalf("AppendEncoding of %+v:\n got %x\nwant %x", *h, got, want)
	}
	prefix := []byte{0xde, 0xad}
	if got := h.AppendEncoding(prefix[:2:2]); !bytes.Equal(got, append(prefix, want...)) {
		t.Fatalf("AppendEncoding after a prefix: %x", got)
	}
	if got, want := h.Hash(), HashBytes(want); got != want {
		t.Fatalf("Hash of %+v is %s, the generic encoding hashes to %s", *h, got, want)
	}
	if got, err := Encode(h); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Encode (%v):\n got %x\nwant %x", err, got, want)
	}
	if got := MustEncode(*h); !bytes.Equal(got, want) {
		t.Fatalf("MustEncode of a header value:\n got %x\nwant %x", got, want)
	}
	if got, err := h.MarshalCBOR(); err != nil || !bytes.Equal(got, want) || cap(got) != len(want) {
		t.Fatalf("MarshalCBOR (%v), capacity %d:\n got %x\nwant %x", err, cap(got), got, want)
	}
	if len(h.ChainID) <= MaxChainIDLen && len(want) > HeaderEncodingCap {
		t.Fatalf("a header with a chain id of %d bytes encodes to %d, over HeaderEncodingCap (%d)", len(h.ChainID), len(want), HeaderEncodingCap)
	}
	blk := &Block{Header: *h, Cert: &Certificate{Lane: h.Lane, Height: h.Height, BlockHash: h.Hash(), Sigs: []CommitSig{{Sig: make(Signature, 64)}}}}
	wantBlock, err := encMode.Marshal(&blockPlainHeader{Header: headerPlain(*h), Cert: blk.Cert})
	if err != nil {
		t.Fatal(err)
	}
	if got := MustEncode(blk); !bytes.Equal(got, wantBlock) {
		t.Fatalf("MustEncode of a block:\n got %x\nwant %x", got, wantBlock)
	}
	if !utf8.ValidString(h.ChainID) {
		return // Decode refuses invalid UTF-8, as it refuses it in any text
	}
	var back Header
	if err := Decode(want, &back); err != nil {
		t.Fatalf("Decode(AppendEncoding(%+v)): %v", *h, err)
	}
	if !reflect.DeepEqual(&back, h) {
		t.Fatalf("decoded %+v, want %+v", back, *h)
	}
}

// cborEdges are the integers at every CBOR head-size boundary.
var cborEdges = []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxUint64}

// TestHeaderCBORMatchesGeneric starts from a valid header and sets one
// field at a time to each of its edge values: chain ids of every length
// boundary (empty, 23/24, 255/256 and 65535/65536 bytes, invalid UTF-8),
// every lane byte at a boundary, integers at every head size (times
// negative too), zero and full hashes and keys.
func TestHeaderCBORMatchesGeneric(t *testing.T) {
	blk, _, _ := validBlock(t, 3)
	base := blk.Header
	n := 0
	check := func(name string, change func(h *Header)) {
		t.Helper()
		h := base
		change(&h)
		t.Run(name, func(t *testing.T) { checkHeaderCBOR(t, &h) })
		n++
	}
	check("valid", func(*Header) {})
	for _, l := range []int{0, 1, 23, 24, MaxChainIDLen, 255, 256, 65535, 65536} {
		check("chain id of "+itoa(uint64(l)), func(h *Header) { h.ChainID = strings.Repeat("w", l) })
	}
	check("chain id in UTF-8", func(h *Header) { h.ChainID = "wäterchain-ℵ-🌊" })
	check("chain id not UTF-8", func(h *Header) { h.ChainID = "\xff\xfe\x00" })
	for _, lane := range []Lane{0, LaneData, LaneTx, 23, 24, 255} {
		check("lane "+itoa(uint64(lane)), func(h *Header) { h.Lane = lane })
	}
	for _, v := range cborEdges {
		check("height "+itoa(v), func(h *Header) { h.Height = v })
		check("anchor height "+itoa(v), func(h *Header) { h.Anchor.Height = v })
		check("time "+itoa(v), func(h *Header) { h.Time = Time(v) })
		check("time -1-"+itoa(v), func(h *Header) { h.Time = Time(^v) }) // -1, -2, -24, -25, ..., MinInt64
		check("entries "+itoa(v), func(h *Header) { h.NumEntries = uint32(min(v, math.MaxUint32)) })
	}
	for _, fill := range []byte{0, 0xff} {
		var x [32]byte
		for i := range x {
			x[i] = fill
		}
		name := itoa(uint64(fill))
		check("prev hash of "+name, func(h *Header) { h.PrevHash = x })
		check("entries root of "+name, func(h *Header) { h.EntriesRoot = x })
		check("state root of "+name, func(h *Header) { h.StateRoot = x })
		check("anchor hash of "+name, func(h *Header) { h.Anchor.Hash = x })
		check("validators hash of "+name, func(h *Header) { h.ValidatorsHash = x })
		check("proposer of "+name, func(h *Header) { h.Proposer = x })
	}
	check("zero", func(h *Header) { *h = Header{} })
	check("widest", func(h *Header) { *h = widestHeader() })
	t.Logf("%d headers", n)
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

// widestHeader has every integer at its widest CBOR head and a chain id
// of MaxChainIDLen bytes.
func widestHeader() Header {
	return Header{
		ChainID: strings.Repeat("w", MaxChainIDLen), Lane: math.MaxUint8, Height: math.MaxUint64,
		Time: math.MinInt64, NumEntries: math.MaxUint32, Anchor: Anchor{Height: math.MaxUint64},
	}
}

// TestHeaderEncodingCap: the widest header with a chain id of
// MaxChainIDLen bytes encodes to HeaderEncodingCap bytes exactly.
func TestHeaderEncodingCap(t *testing.T) {
	h := widestHeader()
	if n := len(h.AppendEncoding(nil)); n != HeaderEncodingCap {
		t.Fatalf("widest header encodes to %d bytes, want HeaderEncodingCap (%d)", n, HeaderEncodingCap)
	}
	h.Time = math.MaxInt64
	if n := len(h.AppendEncoding(nil)); n != HeaderEncodingCap {
		t.Fatalf("widest header with a positive time encodes to %d bytes, want %d", n, HeaderEncodingCap)
	}
}

// TestHeaderHashAllocs: a header hashes without allocating.
func TestHeaderHashAllocs(t *testing.T) {
	blk, _, _ := validBlock(t, 1)
	if n := testing.AllocsPerRun(100, func() { _ = blk.Header.Hash() }); n != 0 {
		t.Fatalf("Header.Hash allocates %v times", n)
	}
}

// FuzzHeaderCBORMatchesGeneric holds the hand-written encoder to the
// generic one on any header: the proof that a block hash did not change.
//
//	go test ./chain -run '^$' -fuzz FuzzHeaderCBORMatchesGeneric -fuzztime 60s
func FuzzHeaderCBORMatchesGeneric(f *testing.F) {
	blk, _, _ := validBlock(f, 3)
	add := func(h Header) {
		f.Add(h.ChainID, uint8(h.Lane), h.Height, int64(h.Time), h.PrevHash[:], h.NumEntries, h.EntriesRoot[:], h.StateRoot[:],
			h.Anchor.Height, h.Anchor.Hash[:], h.ValidatorsHash[:], h.Proposer[:])
	}
	add(blk.Header)
	add(Header{})
	add(widestHeader())
	add(Header{ChainID: strings.Repeat("x", 300), Lane: 24, Height: 24, Time: -25, NumEntries: 65536, Anchor: Anchor{Height: 256}})
	f.Fuzz(func(t *testing.T, chainID string, lane uint8, height uint64, tm int64, prev []byte, entries uint32,
		entriesRoot, stateRoot []byte, anchorHeight uint64, anchorHash, validators, proposer []byte) {
		h := &Header{ChainID: chainID, Lane: Lane(lane), Height: height, Time: Time(tm), NumEntries: entries, Anchor: Anchor{Height: anchorHeight}}
		copy(h.PrevHash[:], prev)
		copy(h.EntriesRoot[:], entriesRoot)
		copy(h.StateRoot[:], stateRoot)
		copy(h.Anchor.Hash[:], anchorHash)
		copy(h.ValidatorsHash[:], validators)
		copy(h.Proposer[:], proposer)
		checkHeaderCBOR(t, h)
	})
}

// BenchmarkHeaderHashGeneric is Header.Hash as it was, through the
// generic encoder, beside BenchmarkHeaderHash.
func BenchmarkHeaderHashGeneric(b *testing.B) {
	blk, _, _ := validBlock(b, 25)
	h := (*headerPlain)(&blk.Header)
	b.ReportAllocs()
	for b.Loop() {
		_ = HashBytes(MustEncode(h))
	}
}
