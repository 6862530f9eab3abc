package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"

	"github.com/waterchain/waterchain/sim/scenes"
)

func TestDecodeValid(t *testing.T) {
	img, _ := scene(t, scenes.KindClear, scenes.Params{Width: 128, Height: 96}, 1)
	gray := image.NewGray(image.Rect(0, 0, 70, 50))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	cases := []struct {
		name   string
		data   []byte
		format Format
		w, h   int
	}{
		{"jpeg", mustJPEG(t, img, 80), FormatJPEG, 128, 96},
		{"png", mustPNG(t, img), FormatPNG, 128, 96},
		{"gray jpeg", mustJPEG(t, gray, 90), FormatJPEG, 70, 50},
		{"gray png", mustPNG(t, gray), FormatPNG, 70, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, f, err := Decode(c.data, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if f != c.format {
				t.Errorf("format %v, want %v", f, c.format)
			}
			if b := got.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
				t.Errorf("bounds %v, want %dx%d", b, c.w, c.h)
			}
		})
	}
	if FormatJPEG.MIMEType() != "image/jpeg" || FormatPNG.MIMEType() != "image/png" {
		t.Error("MIME types")
	}
}

func TestDecodeBadInput(t *testing.T) {
	img, _ := scene(t, scenes.KindTurbid, scenes.Params{Width: 96, Height: 64}, 2)
	jpg := mustJPEG(t, img, 75)
	pngData := mustPNG(t, img)
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, img, nil); err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}

	// A JPEG with its scan duplicated: two SOS segments.
	sos := jpegSegment(jpg, 0xDA)
	twoScans := append(append(bytes.Clone(jpg[:len(jpg)-2]), jpg[sos:len(jpg)-2]...), 0xFF, 0xD9)

	// A JPEG whose SOF declares 12-bit precision.
	twelveBit := bytes.Clone(jpg)
	twelveBit[jpegSegment(twelveBit, 0xC0)+4] = 12

	// A PNG with one byte of image data flipped (the chunk CRC catches it).
	flipped := bytes.Clone(pngData)
	idat := bytes.Index(flipped, []byte("IDAT"))
	flipped[idat+10] ^= 0x55

	cases := []struct {
		name   string
		data   []byte
		limits Limits
		want   error
		says   string // a fragment of the message
	}{
		{"empty", nil, Limits{}, ErrNotImage, "empty"},
		{"random bytes", random, Limits{}, ErrNotImage, "unknown signature"},
		{"gif", gifBuf.Bytes(), Limits{}, ErrNotImage, "GIF"},
		{"text", []byte("hello, camera"), Limits{}, ErrNotImage, "signature"},
		{"too large", jpg, Limits{MaxBytes: len(jpg) - 1}, ErrTooLarge, "limit"},
		{"jpeg signature only", jpg[:3], Limits{}, ErrTruncated, "end-of-image"},
		{"jpeg truncated in header", jpg[:40], Limits{}, ErrTruncated, ""},
		{"jpeg truncated in scan", jpg[:sos+(len(jpg)-sos)/2], Limits{}, ErrTruncated, "inside scan"},
		{"jpeg without EOI", jpg[:len(jpg)-2], Limits{}, ErrTruncated, ""},
		{"jpeg trailing bytes", append(bytes.Clone(jpg), "extra"...), Limits{}, ErrCorrupt, "after"},
		{"jpeg huge dimensions", withJPEGSize(t, jpg, 60000, 60000), Limits{}, ErrTooManyPixels, "60000x60000"},
		{"jpeg over pixel budget", jpg, Limits{MaxPixels: 96*64 - 1}, ErrTooManyPixels, "pixels"},
		{"jpeg side over limit", withJPEGSize(t, jpg, 9000, 10), Limits{}, ErrTooManyPixels, "side"},
		{"jpeg zero height", withJPEGSize(t, jpg, 96, 0), Limits{}, ErrCorrupt, "96x0"},
		{"jpeg too many scans", twoScans, Limits{MaxScans: 1}, ErrTooManyScans, "2 scans"},
		{"jpeg 12-bit", twelveBit, Limits{}, ErrUnsupported, "precision"},
		{"png truncated", pngData[:len(pngData)/2], Limits{}, ErrTruncated, "declares"},
		{"png without IEND", pngData[:len(pngData)-12], Limits{}, ErrTruncated, "IEND"},
		{"png signature only", pngData[:8], Limits{}, ErrTruncated, ""},
		{"png trailing bytes", append(bytes.Clone(pngData), 0), Limits{}, ErrCorrupt, "after"},
		{"png huge dimensions", withPNGSize(t, pngData, 100000, 100000), Limits{}, ErrTooManyPixels, "100000x100000"},
		{"png bomb within side", withPNGSize(t, pngData, 8000, 8000), Limits{}, ErrTooManyPixels, "64000000"},
		{"png flipped data", flipped, Limits{}, ErrCorrupt, ""},
		{"png zero width", withPNGSize(t, pngData, 0, 64), Limits{}, ErrCorrupt, ""},
		{"negative limit", jpg, Limits{MaxPixels: -1}, ErrInvalidParams, "max_pixels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, _, err := Decode(c.data, c.limits)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode: error %v, want %v", err, c.want)
			}
			if img != nil {
				t.Error("an image came back with the error")
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("message %q does not say %q", err, c.says)
			}
		})
	}

	// The valid files the cases were made from decode, so each case fails
	// for the reason it names.
	for _, d := range [][]byte{jpg, pngData} {
		if _, _, err := Decode(d, Limits{}); err != nil {
			t.Fatalf("base file: %v", err)
		}
	}
}

func TestVerifyHash(t *testing.T) {
	img, _ := scene(t, scenes.KindClear, scenes.Params{Width: 64, Height: 64}, 3)
	data := mustPNG(t, img)
	h := chain.HashBytes(data)
	if err := VerifyHash(data, h); err != nil {
		t.Fatal(err)
	}
	other := h
	other[0] ^= 1
	err := VerifyHash(data, other)
	if !errors.Is(err, ErrHashMismatch) || !strings.Contains(err.Error(), other.String()) || !strings.Contains(err.Error(), h.String()) {
		t.Fatalf("VerifyHash with a wrong hash: %v", err)
	}
	if _, _, err := DecodeVerified(data, h, Limits{}); err != nil {
		t.Fatalf("DecodeVerified: %v", err)
	}
	if _, _, err := DecodeVerified(data, other, Limits{}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("DecodeVerified with a wrong hash: %v", err)
	}
	// Size is checked before hashing, so an oversized body is refused as
	// such even when its hash is wrong too.
	if _, _, err := DecodeVerified(data, other, Limits{MaxBytes: 10}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("DecodeVerified oversized: %v", err)
	}
	// A non-image whose hash matches is still refused.
	junk := []byte("not an image")
	if _, _, err := DecodeVerified(junk, chain.HashBytes(junk), Limits{}); !errors.Is(err, ErrNotImage) {
		t.Fatalf("DecodeVerified junk: %v", err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	if got := (Limits{}).withDefaults(); got != DefaultLimits() {
		t.Fatalf("zero limits → %+v, want defaults %+v", got, DefaultLimits())
	}
	l := Limits{MaxBytes: 5}.withDefaults()
	if l.MaxBytes != 5 || l.MaxPixels != DefaultMaxPixels {
		t.Fatalf("partial limits → %+v", l)
	}
	for _, bad := range []Limits{{MaxBytes: -1}, {MaxPixels: -1}, {MaxSide: -1}, {MaxScans: -1}} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestDecodeOtherModels checks that PNG colour types which decode to other
// image types (16-bit, paletted, with alpha) are accepted and analysed.
func TestDecodeOtherModels(t *testing.T) {
	base, _ := scene(t, scenes.KindColoured, scenes.Params{Width: 96, Height: 64, Hue: 200}, 4)
	g16 := image.NewGray16(base.Bounds())
	n64 := image.NewNRGBA64(base.Bounds())
	pal := image.NewPaletted(base.Bounds(), color.Palette{color.Black, color.White, color.RGBA{0, 0, 255, 255}})
	for y := 0; y < 64; y++ {
		for x := 0; x < 96; x++ {
			c := base.At(x, y)
			g16.Set(x, y, c)
			n64.Set(x, y, c)
			pal.Set(x, y, c)
		}
	}
	for _, img := range []image.Image{g16, n64, pal} {
		got := mustDecode(t, mustPNG(t, img))
		a := mustAnalyze(t, got)
		if a.Width != 96 || a.Height != 64 || a.Class == ClassUnknown {
			t.Errorf("%T: %+v", img, a)
		}
	}
	// The 16-bit copy keeps the colours, so it classifies like the original.
	if a := mustAnalyze(t, mustDecode(t, mustPNG(t, n64))); a.Class != ClassColoured {
		t.Errorf("16-bit coloured PNG classified %v", a.Class)
	}
}

// TestDecodeProgressive decodes two files made by jpegtran from
// scenes.Draw(scenes.KindColoured, {160×120, Hue 280, 3 objects of 8..20 px},
// seed 5) at quality 85: testdata/progressive.jpg (`jpegtran -progressive`,
// 10 scans) and testdata/restart.jpg (`jpegtran -restart 2`, baseline with
// restart markers inside the scan). Go's image/jpeg cannot decode a
// progressive JPEG with restart markers ("missing 0xff00 sequence"), so
// such files are refused as ErrCorrupt; cameras rarely write them.
func TestDecodeProgressive(t *testing.T) {
	for _, c := range []struct {
		file  string
		scans int
	}{{"testdata/progressive.jpg", 10}, {"testdata/restart.jpg", 1}} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if scans, err := walkJPEG(data); err != nil || scans != c.scans {
			t.Fatalf("%s: walk: %d scans, %v", c.file, scans, err)
		}
		img, f, err := Decode(data, Limits{})
		if err != nil || f != FormatJPEG {
			t.Fatalf("%s: Decode: %v %v", c.file, f, err)
		}
		a := mustAnalyze(t, img)
		if a.Class != ClassColoured || a.ObjectCount != 3 {
			t.Errorf("%s: class %v, %d objects", c.file, a.Class, a.ObjectCount)
		}
		for _, n := range []int{len(data) / 2, len(data) - 3} {
			if _, _, err := Decode(data[:n], Limits{}); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s cut at %d of %d: %v", c.file, n, len(data), err)
			}
		}
	}
	data, err := os.ReadFile("testdata/progressive.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(data, Limits{MaxScans: 9}); !errors.Is(err, ErrTooManyScans) || !strings.Contains(err.Error(), "10 scans") {
		t.Errorf("MaxScans 9: %v", err)
	}
}
