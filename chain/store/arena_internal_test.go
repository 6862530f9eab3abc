package store

import (
	"bytes"
	"math"
	"testing"
	"unsafe"

	"github.com/waterchain/waterchain/chain"
)

// TestArena: slices cut from a reserved buffer are adjacent and bounded,
// an append beyond one moves it without touching its neighbour, and what
// does not fit the reserved buffer is allocated on its own.
func TestArena(t *testing.T) {
	var a arena
	a.reserve(10)
	x := append(a.alloc(4), "abcd"...)
	y := append(a.alloc(4), "efgh"...)
	if !follows(x, y) || cap(x) != 4 {
		t.Fatalf("slices of one reserved buffer are not adjacent and bounded (capacity %d)", cap(x))
	}
	x = append(x, "XYZ"...) // beyond its 4 bytes
	if string(y) != "efgh" || string(x) != "abcdXYZ" {
		t.Fatalf("an append beyond a slice wrote over the next: %q, %q", x, y)
	}
	z := a.alloc(4) // 2 bytes left: on its own
	z = append(z, "ijkl"...)
	w := append(a.alloc(2), "mn"...)
	if string(y) != "efgh" || string(z) != "ijkl" || !follows(y, w) {
		t.Fatalf("an allocation beyond the reserved buffer took its room: %q %q %q", y, z, w)
	}
	if n := testing.AllocsPerRun(100, func() {
		var a arena
		a.reserve(64)
		for range 8 {
			_ = append(a.alloc(8), "01234567"...)
		}
	}); n != 1 {
		t.Fatalf("8 slices of a reserved buffer took %v allocations, want 1", n)
	}
}

// follows reports whether b starts where a ends.
func follows(a, b []byte) bool {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(a)), len(a)) == unsafe.Pointer(unsafe.SliceData(b))
}

// TestRecordLen: recordLen is the length appendRecord writes, at every
// varint size and flag.
func TestRecordLen(t *testing.T) {
	sig := bytes.Repeat([]byte{7}, 64)
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, math.MaxUint32, math.MaxUint64} {
		for _, tm := range []chain.Time{0, -1, 63, 64, -65, math.MinInt64, math.MaxInt64, chain.Time(v)} {
			for flags := byte(0); flags <= flagsKnown; flags++ {
				r := &record{flags: flags, chainID: v, time: tm, numEntries: uint32(v), anchorHeight: v, validatorsHash: v, proposer: v, round: uint32(v)}
				for i := range int(v % 5) {
					r.sigs = append(r.sigs, recordSig{signer: v >> i, sig: sig[:64>>i]})
				}
				if n, enc := recordLen(r), appendRecord(nil, r); n != len(enc) {
					t.Fatalf("recordLen of %+v is %d, appendRecord writes %d", r, n, len(enc))
				}
			}
		}
	}
}
