package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/waterchain/waterchain/chain"
)

// Format is the encoding of an accepted image file.
type Format uint8

const (
	// FormatJPEG is a baseline or progressive 8-bit JPEG (JFIF/Exif).
	FormatJPEG Format = 1
	// FormatPNG is a PNG of any bit depth and colour type.
	FormatPNG Format = 2
)

func (f Format) String() string {
	switch f {
	case FormatJPEG:
		return "jpeg"
	case FormatPNG:
		return "png"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// MIMEType is the Content-Type to serve the file with.
func (f Format) MIMEType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	}
	return "application/octet-stream"
}

// Defaults for Limits.
const (
	// DefaultMaxBytes is 4 MiB: a 1080p JPEG at high quality is well under
	// 1 MiB, so this leaves room for larger sensors and PNG.
	DefaultMaxBytes = 4 << 20
	// DefaultMaxPixels is 8 megapixels (3264×2448 fits). Decoding needs up
	// to about 8 bytes a pixel (16-bit PNG) plus, for a progressive JPEG,
	// its coefficients (about 6 bytes a pixel at 4:2:0), and Analyze about
	// 8 more: roughly 200 MB at the limit.
	DefaultMaxPixels = 8_000_000
	// DefaultMaxSide bounds either dimension, so a 1×8000000 strip is refused
	// as well.
	DefaultMaxSide = 8192
	// DefaultMaxScans bounds the scans of a progressive JPEG. Encoders use
	// about 10; libjpeg-turbo's own scan limit is 500 by comparison, and a
	// camera never needs more than a few dozen.
	DefaultMaxScans = 64
)

// Limits bound what Decode accepts. A zero field takes its default; a
// negative one is an error.
type Limits struct {
	// MaxBytes is the largest encoded file, in bytes.
	MaxBytes int
	// MaxPixels is the largest width×height.
	MaxPixels int64
	// MaxSide is the largest width or height.
	MaxSide int
	// MaxScans is the most SOS segments a JPEG may have.
	MaxScans int
}

// DefaultLimits returns the limits Decode uses for a zero Limits.
func DefaultLimits() Limits {
	return Limits{MaxBytes: DefaultMaxBytes, MaxPixels: DefaultMaxPixels, MaxSide: DefaultMaxSide, MaxScans: DefaultMaxScans}
}

// Validate reports the first negative field.
func (l Limits) Validate() error {
	switch {
	case l.MaxBytes < 0:
		return fmt.Errorf("%w: limits: max_bytes %d is negative", ErrInvalidParams, l.MaxBytes)
	case l.MaxPixels < 0:
		return fmt.Errorf("%w: limits: max_pixels %d is negative", ErrInvalidParams, l.MaxPixels)
	case l.MaxSide < 0:
		return fmt.Errorf("%w: limits: max_side %d is negative", ErrInvalidParams, l.MaxSide)
	case l.MaxScans < 0:
		return fmt.Errorf("%w: limits: max_scans %d is negative", ErrInvalidParams, l.MaxScans)
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxPixels == 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.MaxSide == 0 {
		l.MaxSide = d.MaxSide
	}
	if l.MaxScans == 0 {
		l.MaxScans = d.MaxScans
	}
	return l
}

var (
	sigJPEG = []byte{0xFF, 0xD8, 0xFF}
	sigPNG  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
)

// Sniff returns the format of data from its signature, or an error wrapping
// ErrNotImage that names what the bytes look like instead.
func Sniff(data []byte) (Format, error) {
	switch {
	case len(data) == 0:
		return 0, fmt.Errorf("%w: empty file (0 bytes)", ErrNotImage)
	case bytes.HasPrefix(data, sigJPEG):
		return FormatJPEG, nil
	case bytes.HasPrefix(data, sigPNG):
		return FormatPNG, nil
	}
	return 0, fmt.Errorf("%w: %s; the camera must send JPEG or PNG", ErrNotImage, describe(data))
}

// describe names common non-accepted formats so the error helps whoever
// configured the camera.
func describe(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return "GIF file"
	case len(data) >= 12 && bytes.Equal(data[:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		return "WebP file"
	case bytes.HasPrefix(data, []byte("BM")):
		return "BMP file"
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return "TIFF file"
	case len(data) >= 12 && bytes.Equal(data[4:8], []byte("ftyp")):
		return "ISO media file (HEIC/AVIF?)"
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8}):
		return "JPEG start-of-image marker without a following segment"
	case bytes.HasPrefix(data, sigPNG[:4]):
		return "damaged PNG signature"
	}
	n := min(len(data), 8)
	return fmt.Sprintf("unknown signature % x", data[:n])
}

// VerifyHash checks that data hashes to want, the ImageHash of the reading
// the image is attached to.
func VerifyHash(data []byte, want chain.Hash) error {
	if got := chain.HashBytes(data); got != want {
		return fmt.Errorf("%w: the reading carries %s, the %d image bytes hash to %s",
			ErrHashMismatch, want, len(data), got)
	}
	return nil
}

// DecodeVerified is what a node runs on an image attached to a reading:
// checks from cheap to expensive — size, hash, signature, structure,
// header, then the full decode. Nothing may be stored unless it returns nil.
func DecodeVerified(data []byte, want chain.Hash, limits Limits) (image.Image, Format, error) {
	if err := limits.Validate(); err != nil {
		return nil, 0, err
	}
	if err := checkSize(data, limits.withDefaults()); err != nil {
		return nil, 0, err
	}
	if err := VerifyHash(data, want); err != nil {
		return nil, 0, err
	}
	return Decode(data, limits)
}

func checkSize(data []byte, l Limits) error {
	if len(data) > l.MaxBytes {
		return fmt.Errorf("%w: %d bytes, limit %d; lower the camera's resolution or JPEG quality",
			ErrTooLarge, len(data), l.MaxBytes)
	}
	return nil
}

// Decode decodes a JPEG or PNG file within limits. Checks run from cheap to
// expensive, and each rejection happens before the work it guards:
//
//  1. size: len(data) against MaxBytes (ErrTooLarge);
//  2. signature: JPEG or PNG only (ErrNotImage);
//  3. structure: a walk over the JPEG segments or PNG chunks, without
//     decoding, that finds truncation (ErrTruncated), bytes after the end
//     marker (ErrCorrupt) and too many JPEG scans (ErrTooManyScans);
//  4. header: image.DecodeConfig's width and height against MaxSide and
//     MaxPixels (ErrTooManyPixels) — a decompression bomb is refused here,
//     before any pixel buffer is allocated;
//  5. the decode itself (ErrCorrupt, ErrUnsupported, ErrTruncated).
//
// Decode never panics; a panic inside a standard-library decoder is
// recovered and reported as ErrCorrupt.
func Decode(data []byte, limits Limits) (image.Image, Format, error) {
	if err := limits.Validate(); err != nil {
		return nil, 0, err
	}
	l := limits.withDefaults()
	if err := checkSize(data, l); err != nil {
		return nil, 0, err
	}
	f, err := Sniff(data)
	if err != nil {
		return nil, 0, err
	}
	switch f {
	case FormatJPEG:
		scans, err := walkJPEG(data)
		if err != nil {
			return nil, f, err
		}
		if scans > l.MaxScans {
			return nil, f, fmt.Errorf("%w: %d scans, limit %d", ErrTooManyScans, scans, l.MaxScans)
		}
	case FormatPNG:
		if err := walkPNG(data); err != nil {
			return nil, f, err
		}
	}
	cfg, err := decodeConfig(f, data)
	if err != nil {
		return nil, f, err
	}
	if err := checkDimensions(cfg.Width, cfg.Height, l); err != nil {
		return nil, f, err
	}
	img, err := decodeImage(f, data)
	if err != nil {
		return nil, f, err
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, f, fmt.Errorf("%w: %s decoded to %dx%d, header says %dx%d",
			ErrCorrupt, f, b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return img, f, nil
}

func checkDimensions(w, h int, l Limits) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: header declares %dx%d pixels", ErrCorrupt, w, h)
	}
	if w > l.MaxSide || h > l.MaxSide {
		return fmt.Errorf("%w: %dx%d, a side is over the limit of %d", ErrTooManyPixels, w, h, l.MaxSide)
	}
	if px := int64(w) * int64(h); px > l.MaxPixels {
		return fmt.Errorf("%w: %dx%d = %d pixels, limit %d", ErrTooManyPixels, w, h, px, l.MaxPixels)
	}
	return nil
}

func decodeConfig(f Format, data []byte) (cfg image.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s header: decoder panic: %v", ErrCorrupt, f, r)
		}
	}()
	if f == FormatJPEG {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return cfg, decoderError(f, "header", err)
	}
	return cfg, nil
}

func decodeImage(f Format, data []byte) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%w: %s: decoder panic: %v", ErrCorrupt, f, r)
		}
	}()
	if f == FormatJPEG {
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, decoderError(f, "data", err)
	}
	return img, nil
}

// decoderError maps a standard-library decoder error onto this package's
// sentinels, keeping the decoder's words.
func decoderError(f Format, what string, err error) error {
	var ju jpeg.UnsupportedError
	var pu png.UnsupportedError
	switch {
	case errors.As(err, &ju), errors.As(err, &pu):
		return fmt.Errorf("%w: %s %s: %v; re-encode as 8-bit baseline JPEG or PNG", ErrUnsupported, f, what, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s %s: %v", ErrTruncated, f, what, err)
	}
	return fmt.Errorf("%w: %s %s: %v", ErrCorrupt, f, what, err)
}

// walkJPEG follows the segment structure of a JPEG from SOI to EOI without
// decoding anything and returns the number of scans (SOS segments). It
// skips stray bytes between segments as image/jpeg does, so it refuses
// nothing the decoder would accept, except bytes after EOI.
func walkJPEG(data []byte) (scans int, err error) {
	const (
		markerSOS = 0xDA
		markerEOI = 0xD9
		markerTEM = 0x01
		markerRST = 0xD0 // RST0..RST7 are 0xD0..0xD7
	)
	i := 2 // after SOI
	for {
		// Find the next 0xFF, then skip fill bytes.
		for i < len(data) && data[i] != 0xFF {
			i++
		}
		for i < len(data) && data[i] == 0xFF {
			i++
		}
		if i >= len(data) {
			return scans, fmt.Errorf("%w: JPEG ends at byte %d without an end-of-image marker", ErrTruncated, len(data))
		}
		m := data[i]
		at := i - 1
		i++
		switch {
		case m == markerEOI:
			if rest := len(data) - i; rest > 0 {
				return scans, fmt.Errorf("%w: %d bytes after the JPEG end-of-image marker at byte %d",
					ErrCorrupt, rest, at)
			}
			return scans, nil
		case m == markerTEM, m >= markerRST && m <= markerRST+7, m == 0x00:
			// No length field. A stuffed 0x00 outside a scan is junk the
			// decoder skips too.
			continue
		}
		if len(data)-i < 2 {
			return scans, fmt.Errorf("%w: JPEG segment 0x%02X at byte %d has no length", ErrTruncated, m, at)
		}
		n := int(data[i])<<8 | int(data[i+1])
		if n < 2 {
			return scans, fmt.Errorf("%w: JPEG segment 0x%02X at byte %d declares length %d", ErrCorrupt, m, at, n)
		}
		if len(data)-i < n {
			return scans, fmt.Errorf("%w: JPEG segment 0x%02X at byte %d declares %d bytes, %d remain",
				ErrTruncated, m, at, n, len(data)-i)
		}
		i += n
		if m != markerSOS {
			continue
		}
		scans++
		// Entropy-coded data runs to the next marker that is neither a
		// stuffed 0xFF00 nor a restart marker.
		for {
			for i < len(data) && data[i] != 0xFF {
				i++
			}
			j := i
			for j < len(data) && data[j] == 0xFF {
				j++
			}
			if j >= len(data) {
				return scans, fmt.Errorf("%w: JPEG ends at byte %d inside scan %d", ErrTruncated, len(data), scans)
			}
			if c := data[j]; c == 0x00 || (c >= markerRST && c <= markerRST+7) {
				i = j + 1
				continue
			}
			i = j - 1 // at the last 0xFF before the marker byte
			break
		}
	}
}

// walkPNG follows the chunk structure of a PNG from the signature to IEND
// without decoding anything (CRCs are left to image/png).
func walkPNG(data []byte) error {
	i := len(sigPNG)
	for {
		if len(data)-i < 8 {
			return fmt.Errorf("%w: PNG ends at byte %d without an IEND chunk", ErrTruncated, len(data))
		}
		n := uint64(data[i])<<24 | uint64(data[i+1])<<16 | uint64(data[i+2])<<8 | uint64(data[i+3])
		typ := data[i+4 : i+8]
		at := i
		if n > 1<<31-1 {
			return fmt.Errorf("%w: PNG chunk %q at byte %d declares length %d", ErrCorrupt, typ, at, n)
		}
		i += 8
		if uint64(len(data)-i) < n+4 {
			return fmt.Errorf("%w: PNG chunk %q at byte %d declares %d bytes, %d remain",
				ErrTruncated, typ, at, n+4, len(data)-i)
		}
		i += int(n) + 4
		if string(typ) == "IEND" {
			if rest := len(data) - i; rest > 0 {
				return fmt.Errorf("%w: %d bytes after the PNG IEND chunk at byte %d", ErrCorrupt, rest, at)
			}
			return nil
		}
	}
}
