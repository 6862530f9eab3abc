package ingest

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// TestDecodersOwnValues: the slow native path and SenML keep nothing of
// the body (the fast path: TestDecodeNativeFastOwnsValues). The API reuses
// a request's body buffer once it is answered (api.Door.DecodeReadings).
func TestDecodersOwnValues(t *testing.T) {
	key := testKey(t, "owns")
	h := chain.HashBytes([]byte("image"))
	withImage := signedReading(t, key, 3)
	withImage.ImageHash = &h
	withImage.Sign(testChainID, key)
	rs := []*chain.Reading{signedReading(t, key, 1), signedReading(t, key, 2), withImage}
	native, err := EncodeJSON(rs)
	if err != nil {
		t.Fatal(err)
	}
	senml, err := EncodeSenML(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		body   []byte
		decode func([]byte) ([]*chain.Reading, error)
	}{
		{"native slow", native, func(b []byte) ([]*chain.Reading, error) { return decodeNativeSlow(b, 10) }},
		{"senml", senml, func(b []byte) ([]*chain.Reading, error) { return DecodeSenML(b, 10) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := append([]byte(nil), c.body...)
			got, err := c.decode(body)
			if err != nil {
				t.Fatal(err)
			}
			for i := range body {
				body[i] = 'x'
			}
			sameReadings(t, got, rs)
		})
	}
}
