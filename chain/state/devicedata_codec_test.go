package state

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// genericDeviceData is DeviceData without methods: chain.Encode and
// chain.Decode treat it by its struct tags alone, as they do DeviceData.
type genericDeviceData DeviceData

// randomDeviceData draws a record with each field zero, small, at a CBOR
// head boundary or large, and zero to MaxOpenGaps gaps (not necessarily
// ones that pass check: the codec does not look at meaning).
func randomDeviceData(rng *rand.Rand) DeviceData {
	u := func() uint64 {
		switch rng.IntN(5) {
		case 0:
			return 0
		case 1:
			return uint64(rng.IntN(30))
		case 2:
			return []uint64{23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxUint64}[rng.IntN(9)]
		case 3:
			return rng.Uint64() >> rng.IntN(64)
		}
		return rng.Uint64()
	}
	d := DeviceData{LastSeq: u(), Readings: u(), Missing: u(), LastHeight: u()}
	switch rng.IntN(4) {
	case 0:
	case 1:
		d.LastTime = chain.Time(-int64(u() >> 1))
	case 2:
		d.LastTime = math.MinInt64
	default:
		d.LastTime = chain.Time(u() >> 1)
	}
	if n := rng.IntN(MaxOpenGaps + 2); n > 0 && n <= MaxOpenGaps {
		d.Gaps = make([]SeqRange, n)
		for i := range d.Gaps {
			d.Gaps[i] = SeqRange{From: u(), To: u()}
		}
	}
	return d
}

// TestDeviceDataCodecMatchesGeneric holds the hand-written encoder and
// decoder to the generic codec on random records.
func TestDeviceDataCodecMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	for i := range 20_000 {
		d := randomDeviceData(rng)
		g := genericDeviceData(d)
		want := chain.MustEncode(&g)
		got := d.appendCBOR(nil)
		if string(got) != string(want) {
			t.Fatalf("#%d %+v: encodes to %x, generic %x", i, d, got, want)
		}
		var back DeviceData
		if !decodeDeviceDataFast(want, &back) {
			t.Fatalf("#%d %+v: fast decoder refuses its canonical encoding %x", i, d, want)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("#%d: decodes to %+v, want %+v", i, back, d)
		}
	}
}

// TestDecodeDeviceDataFastRefuses: forms chain.Decode refuses, or the
// encoder never writes, are left to chain.Decode, and the record is not
// touched.
func TestDecodeDeviceDataFastRefuses(t *testing.T) {
	valid := (&DeviceData{LastSeq: 3, LastTime: 5, Readings: 2, Missing: 1, Gaps: []SeqRange{{From: 2, To: 2}}}).appendCBOR(nil)
	for name, b := range map[string][]byte{
		"empty":                 {},
		"not a map":             {0x80},
		"zero written out":      {0xa1, 0x01, 0x00},
		"keys out of order":     {0xa2, 0x03, 0x01, 0x01, 0x01},
		"duplicate key":         {0xa2, 0x01, 0x01, 0x01, 0x02},
		"unknown key":           {0xa1, 0x07, 0x01},
		"non-shortest integer":  {0xa1, 0x01, 0x18, 0x01},
		"indefinite map":        {0xbf, 0x01, 0x01, 0xff},
		"empty gaps written":    {0xa1, 0x06, 0x80},
		"trailing byte":         append(append([]byte(nil), valid...), 0),
		"truncated":             valid[:len(valid)-1],
		"negative last seq":     {0xa1, 0x01, 0x20},
		"time beyond int64":     {0xa1, 0x02, 0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0},
		"gap with 3 fields":     {0xa2, 0x01, 0x05, 0x06, 0x81, 0xa3, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01},
		"gap fields swapped":    {0xa2, 0x01, 0x05, 0x06, 0x81, 0xa2, 0x02, 0x01, 0x01, 0x01},
		"gap with zero omitted": {0xa2, 0x01, 0x05, 0x06, 0x81, 0xa1, 0x02, 0x01},
	} {
		d := DeviceData{LastSeq: 99}
		if decodeDeviceDataFast(b, &d) {
			t.Errorf("%s: %x accepted as %+v", name, b, d)
		}
		if d.LastSeq != 99 {
			t.Errorf("%s: record changed to %+v", name, d)
		}
	}
	var d DeviceData
	if !decodeDeviceDataFast(valid, &d) || d.Gaps[0] != (SeqRange{From: 2, To: 2}) {
		t.Fatalf("valid %x: %+v", valid, d)
	}
}

// FuzzDecodeDeviceData: what the fast decoder accepts, chain.Decode
// accepts with the same value, and it re-encodes to the same bytes.
func FuzzDecodeDeviceData(f *testing.F) {
	rng := rand.New(rand.NewPCG(16, 2))
	for range 32 {
		d := randomDeviceData(rng)
		f.Add(d.appendCBOR(nil))
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast DeviceData
		if !decodeDeviceDataFast(b, &fast) {
			return
		}
		var g genericDeviceData
		if err := chain.Decode(b, &g); err != nil {
			t.Fatalf("fast decoder accepts %x, chain.Decode refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(DeviceData(g), fast) {
			t.Fatalf("%x: fast %+v, generic %+v", b, fast, g)
		}
		if again := fast.appendCBOR(nil); string(again) != string(b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
