package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// Both fuzz targets check: no panic; every error wraps ErrBadBody; and what
// decodes re-encodes (in the same format) to a body that decodes to the
// same readings, so the decoder and encoder agree on every value they
// accept.

func fuzzSeeds(f *testing.F, senml bool) {
	key := testKey(f, "fuzz")
	rs := []*chain.Reading{signedReading(f, key, 1), signedReading(f, key, 2)}
	h := chain.HashBytes([]byte("img"))
	rs[1].ImageHash = &h
	var body []byte
	if senml {
		body, _ = EncodeSenML(rs)
		f.Add(vendorBody(key.Public(), strings.Repeat("ab", 64)))
		f.Add([]byte(`[{"bn":"urn:dev:wc:` + strings.Repeat("00", 32) + `:","bt":1.5e9,"bv":1,"n":"volume","u":"l","v":-0.5}]`))
		f.Add([]byte(`[{"bt":1e40},{"t":-1e40}]`))
		f.Add([]byte(`[{"n":"seq","v":9007199254740993}]`))
	} else {
		body, _ = EncodeJSON(rs)
		one, _ := EncodeJSON(rs[:1])
		f.Add(one[1 : len(one)-1])
		f.Add([]byte(`{"device":"00","seq":1e3}`))
		f.Add([]byte(`[{"time":1764410400000},{}]`))
	}
	f.Add(body)
	f.Add([]byte(`[]`))
	f.Add([]byte(`[null]`))
	f.Add([]byte(``))
}

func FuzzDecodeNative(f *testing.F) {
	fuzzSeeds(f, false)
	// Bodies of the shape decodeNative's fast path takes.
	for _, c := range fastCommon(f) {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rs, err := DecodeLimit(ContentTypeJSON, body, 64)
		if err != nil {
			if !errors.Is(err, ErrBadBody) {
				t.Fatalf("error does not wrap ErrBadBody: %v", err)
			}
			return
		}
		again, err := EncodeJSON(rs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeLimit(ContentTypeJSON, again, 64)
		if err != nil {
			t.Fatalf("re-encoded body does not decode: %v\n%s", err, again)
		}
		sameReadings(t, back, rs)
	})
}

func FuzzDecodeSenML(f *testing.F) {
	fuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, body []byte) {
		rs, err := DecodeLimit(ContentTypeSenML, body, 64)
		if err != nil {
			if !errors.Is(err, ErrBadBody) {
				t.Fatalf("error does not wrap ErrBadBody: %v", err)
			}
			return
		}
		again, err := EncodeSenML(rs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeLimit(ContentTypeSenML, again, 64)
		if err != nil {
			t.Fatalf("re-encoded pack does not decode: %v\n%s", err, again)
		}
		sameReadings(t, back, rs)
	})
}
