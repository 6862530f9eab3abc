package imaging

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"testing"

	"github.com/waterchain/waterchain/sim/scenes"
)

// scene draws a synthetic scene or fails the test.
func scene(t testing.TB, k scenes.Kind, p scenes.Params, seed uint64) (*image.RGBA, []image.Rectangle) {
	t.Helper()
	img, boxes, err := scenes.Draw(k, p, seed)
	if err != nil {
		t.Fatalf("scenes.Draw(%v, %+v, %d): %v", k, p, seed, err)
	}
	return img, boxes
}

func mustJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	b, err := scenes.EncodeJPEG(img, q)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	b, err := EncodePNG(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDecode(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, _, err := Decode(data, Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return img
}

func mustAnalyze(t testing.TB, img image.Image) Analysis {
	t.Helper()
	a, err := Analyze(img)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return a
}

// jpegSegment returns the offset of the first segment with marker m (the
// 0xFF byte) in a JPEG, or -1.
func jpegSegment(data []byte, m byte) int {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return -1
		}
		if data[i+1] == m {
			return i
		}
		if data[i+1] == 0xDA { // scan data follows; stop looking
			return -1
		}
		i += 2 + int(binary.BigEndian.Uint16(data[i+2:]))
	}
	return -1
}

// withJPEGSize rewrites the frame size in the SOF0 segment.
func withJPEGSize(t testing.TB, data []byte, w, h uint16) []byte {
	t.Helper()
	out := bytes.Clone(data)
	i := jpegSegment(out, 0xC0)
	if i < 0 {
		t.Fatal("no SOF0 segment")
	}
	// FF C0 len(2) precision(1) height(2) width(2)
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// withPNGSize rewrites the IHDR width and height and fixes its CRC.
func withPNGSize(t testing.TB, data []byte, w, h uint32) []byte {
	t.Helper()
	out := bytes.Clone(data)
	// signature(8) len(4) "IHDR"(4) width(4) height(4) ... crc after 13 data bytes
	if string(out[12:16]) != "IHDR" {
		t.Fatal("no IHDR first")
	}
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}
