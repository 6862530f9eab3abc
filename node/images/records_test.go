package images

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
)

// TestHTTPError maps every refusal of the imaging package to its status
// and code, and leaves other errors alone.
func TestHTTPError(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{imaging.ErrTooLarge, http.StatusRequestEntityTooLarge, api.CodeTooLarge},
		{imaging.ErrNotImage, http.StatusUnsupportedMediaType, api.CodeBadImage},
		{imaging.ErrHashMismatch, http.StatusUnprocessableEntity, api.CodeHashMismatch},
		{imaging.ErrTruncated, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrCorrupt, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrTooManyPixels, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrTooManyScans, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrUnsupported, http.StatusUnprocessableEntity, api.CodeBadImage},
	} {
		err := httpError(fmt.Errorf("wrapped: %w", c.err))
		var he *api.HTTPError
		if !errors.As(err, &he) || he.Status != c.status || he.Code != c.code || !errors.Is(err, c.err) {
			t.Errorf("%v: got %v (%+v)", c.err, err, he)
		}
	}
	plain := errors.New("disk on fire")
	if err := httpError(plain); err != plain {
		t.Errorf("plain error became %v", err)
	}
	if httpError(nil) != nil {
		t.Error("nil became an error")
	}
}

// TestRecordsRoundTrip: the stored records decode to what was written, so
// a node reads back the analysis it stored.
func TestRecordsRoundTrip(t *testing.T) {
	a := sceneAnalysis(t, sceneColoured, sceneParams{Width: 160, Height: 120, Objects: 2, Hue: 200}, 4)
	in := meta{Format: imaging.FormatPNG, Size: 1234, Analysis: a}
	var out meta
	if err := chain.Decode(chain.MustEncode(&in), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chain.MustEncode(&in), chain.MustEncode(&out)) || out.Analysis.Class != imaging.ClassColoured {
		t.Fatalf("round trip: %+v", out)
	}
	cs := classState{Seq: 9, Class: imaging.ClassTurbid}
	var cs2 classState
	if err := chain.Decode(chain.MustEncode(&cs), &cs2); err != nil || cs2 != cs {
		t.Fatalf("class state round trip: %+v %v", cs2, err)
	}
}

// TestMetaStoredAt: a record from before StoredAt decodes with a zero
// store time, which counts as the instance's start, and re-encodes to the
// same bytes; a new record keeps its store time.
func TestMetaStoredAt(t *testing.T) {
	type legacyMeta struct {
		Format   imaging.Format   `cbor:"1,keyasint"`
		Size     uint32           `cbor:"2,keyasint"`
		Analysis imaging.Analysis `cbor:"3,keyasint"`
	}
	old := chain.MustEncode(&legacyMeta{Format: imaging.FormatPNG, Size: 99, Analysis: imaging.Analysis{Class: imaging.ClassTurbid}})
	var m meta
	if err := chain.Decode(old, &m); err != nil {
		t.Fatal(err)
	}
	if m.StoredAt != 0 || m.Size != 99 || m.Analysis.Class != imaging.ClassTurbid || !bytes.Equal(chain.MustEncode(&m), old) {
		t.Fatalf("legacy record read as %+v", m)
	}
	im := &Images{startedAt: 1234}
	if got := im.storedAt(&m); got != 1234 {
		t.Fatalf("legacy record stored at %s, want the start", got)
	}
	m.StoredAt = 5678
	var back meta
	if err := chain.Decode(chain.MustEncode(&m), &back); err != nil || back.StoredAt != 5678 || im.storedAt(&back) != 5678 {
		t.Fatalf("store time round trip: %+v %v", back, err)
	}
}

// FuzzRequest: the Protocol request parser accepts exactly the nonzero
// 32-byte hashes and never panics.
func FuzzRequest(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{7}, 32))
	f.Add(bytes.Repeat([]byte{7}, 33))
	f.Fuzz(func(t *testing.T, req []byte) {
		h, err := parseRequest(req)
		valid := len(req) == 32 && !bytes.Equal(req, make([]byte, 32))
		if (err == nil) != valid {
			t.Fatalf("%x: err %v, valid %v", req, err, valid)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) {
			t.Fatalf("%x: %v is not ErrBadRequest", req, err)
		}
		if err == nil && !bytes.Equal(h[:], req) {
			t.Fatalf("%x parsed as %s", req, h)
		}
	})
}

// FuzzRecord: decoding stored image metadata never panics, and what
// decodes re-encodes to the same bytes (canonical records only).
func FuzzRecord(f *testing.F) {
	a := sceneAnalysis(f, sceneClear, sceneParams{Width: 160, Height: 120, Objects: 1}, 5)
	f.Add(chain.MustEncode(&meta{Format: imaging.FormatJPEG, Size: 10, Analysis: a}))
	f.Add(chain.MustEncode(&meta{Format: imaging.FormatPNG, Size: 10, Analysis: a, StoredAt: chain.TimeOf(time.Unix(1_800_000_000, 0))}))
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m meta
		if chain.Decode(raw, &m) != nil {
			return
		}
		if !bytes.Equal(chain.MustEncode(&m), raw) {
			t.Fatalf("%x decoded but re-encodes as %x", raw, chain.MustEncode(&m))
		}
	})
}

// TestConfigValidate: starting from a valid config, each bad field is
// named.
func TestConfigValidate(t *testing.T) {
	valid := Config{MaxBytes: 1 << 20, OrphanGrace: time.Minute}
	if err := valid.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		mod   func(*Config)
	}{
		{"MaxBytes", func(c *Config) { c.MaxBytes = 0 }},
		{"DecodeSlots", func(c *Config) { c.DecodeSlots = -1 }},
		{"OrphanGrace", func(c *Config) { c.OrphanGrace = 0 }},
	} {
		cfg := valid
		c.mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !bytes.Contains([]byte(err.Error()), []byte(c.field)) {
			t.Errorf("%s: %v", c.field, err)
		}
	}
}
