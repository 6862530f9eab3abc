package node

import (
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/ingest"
)

// maxReadingsPerRequest bounds the readings of one POST /v1/readings.
const maxReadingsPerRequest = 10_000

// decodeReadings parses a POST /v1/readings body: native JSON (one reading
// or an array) or a SenML pack, by content type (see package ingest).
func decodeReadings(contentType string, body []byte) ([]*chain.Reading, error) {
	return ingest.DecodeLimit(contentType, body, maxReadingsPerRequest)
}
