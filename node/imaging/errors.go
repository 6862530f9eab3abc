package imaging

import "errors"

// Errors returned (wrapped, with the values involved) by this package.
// Callers test them with errors.Is; the wrapping message says what was
// wrong and, where the sender can fix it, how.
var (
	// ErrTooLarge means the encoded file is bigger than Limits.MaxBytes.
	ErrTooLarge = errors.New("image too large")
	// ErrNotImage means the bytes are empty or not a JPEG or PNG file
	// (GIF, WebP, BMP, TIFF, HEIC and anything else are refused by their
	// signature, before any decoder runs).
	ErrNotImage = errors.New("not a JPEG or PNG image")
	// ErrTooManyPixels means the header declares dimensions beyond
	// Limits.MaxSide or Limits.MaxPixels: a decompression bomb, or simply a
	// frame bigger than the node accepts. Nothing has been decoded.
	ErrTooManyPixels = errors.New("image dimensions over the pixel budget")
	// ErrTooManyScans means a progressive JPEG has more scans than
	// Limits.MaxScans. Each scan costs a pass over the whole frame, so a
	// small file with thousands of scans is a CPU bomb.
	ErrTooManyScans = errors.New("too many JPEG scans")
	// ErrTruncated means the file ends before its format's end marker
	// (JPEG EOI, PNG IEND) or inside a segment or chunk.
	ErrTruncated = errors.New("truncated image")
	// ErrCorrupt means the file is structurally complete but does not
	// decode, or carries bytes after its end marker.
	ErrCorrupt = errors.New("corrupt image")
	// ErrUnsupported means a well-formed file uses a feature the decoder
	// does not implement (12-bit or arithmetic-coded JPEG, for instance).
	ErrUnsupported = errors.New("unsupported image encoding")
	// ErrHashMismatch means the image bytes do not hash to the SHA-256 the
	// reading carries.
	ErrHashMismatch = errors.New("image hash mismatch")
	// ErrInvalidParams means a Limits, Params or FlowParams value is out
	// of range; the message names the field.
	ErrInvalidParams = errors.New("invalid parameters")
	// ErrNoTexture means flow estimation found no block with enough texture
	// to track between the two frames.
	ErrNoTexture = errors.New("no trackable texture")
)
