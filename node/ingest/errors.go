package ingest

import "errors"

// ErrBadBody is wrapped by every error of Decode: the request body, as a
// whole, cannot be turned into readings, and nothing of it may be stored.
// Callers answer it with 400 Bad Request (413 for ErrTooMany, 415 for
// ErrContentType), using the error text as the message.
var ErrBadBody = errors.New("bad readings body")

// The specific reasons, each wrapping ErrBadBody.
var (
	// ErrContentType: a content type the decoder does not handle.
	ErrContentType = wrap("unsupported content type")
	// ErrMalformed: not JSON, or not the shape of a reading or SenML pack.
	ErrMalformed = wrap("malformed")
	// ErrUnknownField: a JSON field that the format does not define (in
	// SenML, only a must-understand label, ending in "_", or a label that
	// differs from a defined one only in case).
	ErrUnknownField = wrap("unknown field")
	// ErrDuplicateKey: an object names a key twice (or two keys that
	// differ only in case, which encoding/json takes for one): parsers
	// disagree on which value counts, so the body has no one meaning.
	ErrDuplicateKey = wrap("duplicate key")
	// ErrMissingField: a field every reading must carry is absent.
	ErrMissingField = wrap("missing field")
	// ErrBadValue: a value that is not finite, not an integer where one is
	// required, out of range of a 64-bit integer, or otherwise invalid.
	ErrBadValue = wrap("bad value")
	// ErrUnknownUnit: a SenML unit that is not in Units for the measure.
	ErrUnknownUnit = wrap("unknown unit")
	// ErrUnknownMeasure: a SenML record name that is not a measure or a
	// reading field.
	ErrUnknownMeasure = wrap("unknown measure")
	// ErrTooMany: more readings (or SenML records) than the limit.
	ErrTooMany = wrap("too many readings")
	// ErrEmpty: a body without any reading.
	ErrEmpty = wrap("no readings")
)

// ErrDeviceMismatch: an MQTT message carries a reading of another device
// than the one its topic names.
var ErrDeviceMismatch = errors.New("reading device does not match the topic")

type bodyError struct{ msg string }

func (e *bodyError) Error() string { return e.msg }
func (e *bodyError) Unwrap() error { return ErrBadBody }

func wrap(msg string) error { return &bodyError{msg} }
