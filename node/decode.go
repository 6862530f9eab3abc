package node

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// maxReadingsPerRequest bounds the readings of one POST /v1/readings.
const maxReadingsPerRequest = 10_000

// decodeReadings parses native JSON: one reading object or an array.
func decodeReadings(contentType string, body []byte) ([]*chain.Reading, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, fmt.Errorf("empty body: send a reading object or an array of them")
	}
	var out []*chain.Reading
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if body[0] == '[' {
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("readings JSON: %w", err)
		}
	} else {
		var r chain.Reading
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("reading JSON: %w", err)
		}
		out = []*chain.Reading{&r}
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the readings")
	}
	if len(out) > maxReadingsPerRequest {
		return nil, fmt.Errorf("%d readings in one request, at most %d", len(out), maxReadingsPerRequest)
	}
	return out, nil
}
