package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"github.com/waterchain/waterchain/chain"
)

// Content types of a readings body.
const (
	ContentTypeJSON  = "application/json"
	ContentTypeSenML = "application/senml+json"
)

// DefaultMaxReadings is the most readings Decode accepts in one body.
const DefaultMaxReadings = 10_000

// Decode turns a request body into readings, by content type:
// application/json for native readings (one object or an array),
// application/senml+json for a SenML pack. An empty content type is
// detected from the body (see Sniff). It accepts at most DefaultMaxReadings
// readings. Every error wraps ErrBadBody and one of the specific errors.
//
// Decode checks form only: that every field is present, of its type and in
// range. The readings still need chain.Reading.ValidateBasic and the door
// checks of a Submitter.
func Decode(contentType string, body []byte) ([]*chain.Reading, error) {
	return DecodeLimit(contentType, body, DefaultMaxReadings)
}

// DecodeLimit is Decode with a limit on the number of readings (at least 1).
func DecodeLimit(contentType string, body []byte, max int) ([]*chain.Reading, error) {
	if max < 1 {
		max = 1
	}
	ct := strings.TrimSpace(contentType)
	if ct == "" {
		ct = Sniff(body)
	} else {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrContentType, truncate(contentType, 60), err)
		}
		ct = mt
	}
	switch ct {
	case ContentTypeJSON:
		return decodeNative(body, max)
	case ContentTypeSenML:
		return DecodeSenML(body, max)
	}
	return nil, fmt.Errorf("%w: %q; send %s (native readings) or %s (a SenML pack)", ErrContentType, truncate(contentType, 60), ContentTypeJSON, ContentTypeSenML)
}

// Sniff tells a native body from a SenML pack when no content type says
// which (MQTT 3.1.1 has none): a SenML pack is an array whose first record
// has a SenML label (bn, n, bt, ...); a native body is an object or an
// array of objects with "device". It returns ContentTypeJSON when unsure,
// so that the error names the native format.
func Sniff(body []byte) string {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 || body[0] != '[' {
		return ContentTypeJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	// '[' then '{' then the first key.
	for i := 0; i < 2; i++ {
		if _, err := dec.Token(); err != nil {
			return ContentTypeJSON
		}
	}
	tok, err := dec.Token()
	if err != nil {
		return ContentTypeJSON
	}
	switch tok {
	case "bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "t":
		return ContentTypeSenML
	}
	return ContentTypeJSON
}
