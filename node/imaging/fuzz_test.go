package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/gif"
	"os"
	"testing"

	"github.com/waterchain/waterchain/chain"

	"github.com/waterchain/waterchain/sim/scenes"
)

// fuzzLimits keep each fuzz input cheap to decode and analyse.
var fuzzLimits = Limits{MaxBytes: 1 << 16, MaxPixels: 1 << 16, MaxSide: 1024, MaxScans: 16}

// decodeErrors are the sentinels Decode may return; every error must wrap
// exactly one of them.
var decodeErrors = []error{ErrTooLarge, ErrNotImage, ErrTooManyPixels, ErrTooManyScans, ErrTruncated, ErrCorrupt, ErrUnsupported}

func fuzzSeeds(f *testing.F) {
	img, _, err := scenes.Draw(scenes.KindClear, scenes.Params{Width: 64, Height: 64, Objects: 2, ObjectMin: 4, ObjectMax: 8}, 1)
	if err != nil {
		f.Fatal(err)
	}
	gray := image.NewGray(image.Rect(0, 0, 9, 7))
	jpg, _ := scenes.EncodeJPEG(img, 60)
	pngData, _ := EncodePNG(img)
	grayJPEG, _ := scenes.EncodeJPEG(gray, 90)
	grayPNG, _ := EncodePNG(gray)
	var g bytes.Buffer
	_ = gif.Encode(&g, gray, nil)
	progressive, err := os.ReadFile("testdata/progressive.jpg")
	if err != nil {
		f.Fatal(err)
	}
	restart, err := os.ReadFile("testdata/restart.jpg")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{
		jpg, pngData, progressive, progressive[:len(progressive)*2/3], restart, grayJPEG, grayPNG, g.Bytes(), nil, {0xFF, 0xD8, 0xFF},
		jpg[:len(jpg)/2], jpg[:len(jpg)-2], append(bytes.Clone(jpg), 1, 2),
		pngData[:len(pngData)/2], pngData[:len(pngData)-12],
		withJPEGSize(f, jpg, 60000, 60000), withPNGSize(f, pngData, 1<<20, 1<<20),
		withPNGSize(f, grayPNG, 0, 0),
	} {
		f.Add(s)
	}
}

// FuzzDecode: Decode never panics; it either fails with one of its
// sentinels or returns an image within the limits, which Analyze handles
// and analyses the same way twice.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, format, err := Decode(data, fuzzLimits)
		if err != nil {
			n := 0
			for _, s := range decodeErrors {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 || img != nil {
				t.Fatalf("error %v wraps %d sentinels, image %v", err, n, img != nil)
			}
			return
		}
		if format != FormatJPEG && format != FormatPNG {
			t.Fatalf("format %v", format)
		}
		b := img.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx() > fuzzLimits.MaxSide || b.Dy() > fuzzLimits.MaxSide ||
			int64(b.Dx())*int64(b.Dy()) > fuzzLimits.MaxPixels {
			t.Fatalf("decoded %v outside the limits", b)
		}
		a1, err := Analyze(img)
		if err != nil {
			t.Fatalf("Analyze: %v", err)
		}
		img2, _, err := Decode(data, fuzzLimits)
		if err != nil {
			t.Fatalf("second decode: %v", err)
		}
		a2, _ := Analyze(img2)
		if !bytes.Equal(chain.MustEncode(a1), chain.MustEncode(a2)) {
			t.Fatal("same bytes, different analyses")
		}
		if a1.Class == ClassUnknown || len(a1.Objects) > MaxReportedObjects || a1.Turbidity > 1000 || a1.ObjectArea > 1000 {
			t.Fatalf("analysis out of range: %+v", a1)
		}
		_ = Overlay(img, a1)
	})
}

// FuzzWalk checks the structure walkers alone against arbitrary bytes after
// a valid signature, which reaches them far more often than FuzzDecode.
func FuzzWalk(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, prefix := range [][]byte{sigJPEG, sigPNG} {
			d := append(bytes.Clone(prefix), data...)
			var err error
			if bytes.Equal(prefix, sigJPEG) {
				var scans int
				scans, err = walkJPEG(d)
				if scans < 0 {
					t.Fatal("negative scans")
				}
			} else {
				err = walkPNG(d)
			}
			if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("walker error %v is neither truncated nor corrupt", err)
			}
		}
	})
}
