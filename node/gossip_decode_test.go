package node

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// wireReadingsSamples are readings gossip messages as nodes send them:
// with and without Sent, image hashes, extreme and negative measures.
func wireReadingsSamples(t testing.TB) [][]byte {
	t.Helper()
	dev, err := chain.NewPrivateKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	var rs []*chain.Reading
	for seq := uint64(1); seq <= 5; seq++ {
		rs = append(rs, signedReading("decode-test", dev, seq, at.Add(time.Duration(seq)*time.Second)))
	}
	img := chain.HashBytes([]byte("image"))
	odd := *rs[4]
	odd.Seq, odd.FlowRate, odd.Volume, odd.VolumeTotal, odd.Turbidity = math.MaxUint64, -1, math.MinInt64, math.MaxInt64, -24
	odd.ImageHash = &img
	odd.Sign("decode-test", dev)
	withImage := *rs[3]
	withImage.ImageHash = &img
	withImage.Sign("decode-test", dev)
	return [][]byte{
		chain.MustEncode(&wireReadings{Readings: rs[:1]}),
		chain.MustEncode(&wireReadings{Readings: rs, Sent: 7}),
		chain.MustEncode(&wireReadings{Readings: []*chain.Reading{rs[0], &odd, rs[1], &withImage}, Sent: 1 << 40}),
	}
}

// checkDecodeWireReadings: what decodeWireReadings accepts, chain.Decode
// accepts with the same value, and the hashes are the readings' hashes.
func checkDecodeWireReadings(t *testing.T, data []byte) bool {
	t.Helper()
	got, hashes, ok := decodeWireReadings(data)
	if !ok {
		return false
	}
	var want wireReadings
	if err := chain.Decode(data, &want); err != nil {
		t.Fatalf("fast path took what chain.Decode refuses (%v): %x", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path and chain.Decode differ on %x:\nfast %+v\nslow %+v", data, got, want)
	}
	for i, r := range want.Readings {
		if hashes[i] != r.Hash() {
			t.Fatalf("reading %d: hash %s, want %s", i, hashes[i].Short(), r.Hash().Short())
		}
	}
	return true
}

func TestDecodeWireReadings(t *testing.T) {
	for i, data := range wireReadingsSamples(t) {
		if !checkDecodeWireReadings(t, data) {
			t.Fatalf("sample %d: the common form fell back to chain.Decode", i)
		}
	}
}

// TestDecodeWireReadingsMutations changes every byte of each sample to
// several values, and cuts each sample at every length: the fast path
// either falls back or agrees with chain.Decode.
func TestDecodeWireReadingsMutations(t *testing.T) {
	fast := 0
	for _, data := range wireReadingsSamples(t) {
		for i := range data {
			for _, v := range []byte{data[i] ^ 1, data[i] ^ 0x20, data[i] + 1, 0x00, 0x18, 0x1f, 0x40, 0xf6, 0xff} {
				if v == data[i] {
					continue
				}
				m := append([]byte(nil), data...)
				m[i] = v
				if checkDecodeWireReadings(t, m) {
					fast++
				}
			}
		}
		for l := range len(data) {
			if checkDecodeWireReadings(t, data[:l]) {
				t.Fatalf("a message cut at %d of %d bytes decoded", l, len(data))
			}
		}
		if checkDecodeWireReadings(t, append(append([]byte(nil), data...), 0)) {
			t.Fatal("a message with a byte after its end decoded")
		}
	}
	// Changed values inside a field (a measure, the signature) still
	// decode fast: the check is not vacuous.
	if fast == 0 {
		t.Fatal("no mutation decoded on the fast path")
	}
}

// TestDecodeWireReadingsOwnsValues: the readings do not alias the message.
func TestDecodeWireReadingsOwnsValues(t *testing.T) {
	data := wireReadingsSamples(t)[2]
	w, _, ok := decodeWireReadings(data)
	if !ok {
		t.Fatal("fell back")
	}
	var want wireReadings
	if err := chain.Decode(data, &want); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	_ = append(w.Readings[0].Sig, 1, 2, 3)
	if !reflect.DeepEqual(w, want) {
		t.Fatal("readings changed after the message or a signature was written to")
	}
}

func FuzzDecodeWireReadings(f *testing.F) {
	for _, data := range wireReadingsSamples(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeWireReadings(t, data) })
}

// BenchmarkDecodeWireReadings: a gossip message of 500 readings, decoded
// and hashed by the gossip door's fast path and by chain.Decode.
//
//	go test ./node -run '^$' -bench DecodeWireReadings
func BenchmarkDecodeWireReadings(b *testing.B) {
	dev, err := chain.NewPrivateKey(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	rs := make([]*chain.Reading, 500)
	for i := range rs {
		rs[i] = signedReading("decode-bench", dev, uint64(i+1), at.Add(time.Duration(i)*time.Second))
	}
	data := chain.MustEncode(&wireReadings{Readings: rs, Sent: 3})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok := decodeWireReadings(data); !ok {
				b.Fatal("fell back")
			}
		}
	})
	b.Run("chain.Decode", func(b *testing.B) {
		for b.Loop() {
			var w wireReadings
			if err := chain.Decode(data, &w); err != nil {
				b.Fatal(err)
			}
			readingHashes(w.Readings)
		}
	})
}

// TestEncodeWireReadingsMatchesGeneric: the hand-written encoder gives the
// generic encoder's bytes, with and without Sent, for nil and empty lists
// and nil readings too, and the fast decoder takes them back.
func TestEncodeWireReadingsMatchesGeneric(t *testing.T) {
	for i, data := range wireReadingsSamples(t) {
		var w wireReadings
		if err := chain.Decode(data, &w); err != nil {
			t.Fatal(err)
		}
		for _, sent := range []uint64{0, 1, 23, 24, w.Sent, math.MaxUint64} {
			got := encodeWireReadings(w.Readings, sent)
			want := chain.MustEncode(&wireReadings{Readings: w.Readings, Sent: sent})
			if string(got) != string(want) {
				t.Fatalf("sample %d, sent %d: %x, generic %x", i, sent, got, want)
			}
			if !checkDecodeWireReadings(t, got) {
				t.Fatalf("sample %d, sent %d: the fast decoder refuses %x", i, sent, got)
			}
		}
	}
	one := chain.MustEncode(&wireReadings{}) // not sent, but encoded alike
	for _, rs := range [][]*chain.Reading{nil, {}, {nil}} {
		got, want := encodeWireReadings(rs, 5), chain.MustEncode(&wireReadings{Readings: rs, Sent: 5})
		if string(got) != string(want) {
			t.Fatalf("%v: %x, generic %x", rs, got, want)
		}
	}
	if got := encodeWireReadings(nil, 0); string(got) != string(one) {
		t.Fatalf("nil: %x, generic %x", got, one)
	}
}

func BenchmarkEncodeWireReadings(b *testing.B) {
	dev, err := chain.NewPrivateKey(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	var rs []*chain.Reading
	for seq := uint64(1); seq <= 200; seq++ {
		rs = append(rs, signedReading("bench", dev, seq, at.Add(time.Duration(seq)*time.Second)))
	}
	for _, enc := range []struct {
		name string
		fn   func() []byte
	}{
		{"generic", func() []byte { return chain.MustEncode(&wireReadings{Readings: rs, Sent: 9}) }},
		{"hand-written", func() []byte { return encodeWireReadings(rs, 9) }},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = enc.fn()
			}
		})
	}
}
