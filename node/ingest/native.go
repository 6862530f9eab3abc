package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/waterchain/waterchain/chain"
)

// nativeReading is chain.Reading as it arrives in JSON, with pointers so
// that an absent field can be told from a zero value: a flow of 0 at night
// is a measurement, a missing flow is a broken meter or client.
type nativeReading struct {
	Device          *chain.PubKey   `json:"device"`
	Seq             *uint64         `json:"seq"`
	Time            *chain.Time     `json:"time"`
	FlowRate        *int64          `json:"flow_rate"`
	Volume          *int64          `json:"volume"`
	VolumeTotal     *int64          `json:"volume_total"`
	Conductivity    *int64          `json:"conductivity"`
	SuspendedSolids *int64          `json:"suspended_solids"`
	Absorbance      *int64          `json:"absorbance"`
	Turbidity       *int64          `json:"turbidity"`
	ImageHash       *chain.Hash     `json:"image_hash"`
	Sig             chain.Signature `json:"sig"`
}

// requiredFields names, in order, the fields every native reading carries.
const requiredFields = "device, seq, time, flow_rate, volume, volume_total, conductivity, suspended_solids, absorbance, turbidity, sig"

func (n *nativeReading) reading(i int) (*chain.Reading, error) {
	missing := func(f string) error {
		return fmt.Errorf("%w: reading %d has no %q (every reading carries %s)", ErrMissingField, i, f, requiredFields)
	}
	r := &chain.Reading{ImageHash: n.ImageHash, Sig: n.Sig}
	switch {
	case n.Device == nil:
		return nil, missing("device")
	case n.Seq == nil:
		return nil, missing("seq")
	case n.Time == nil:
		return nil, missing("time")
	case n.Sig == nil:
		return nil, missing("sig")
	}
	r.Device, r.Seq, r.Time = *n.Device, *n.Seq, *n.Time
	for _, f := range []struct {
		name string
		src  *int64
		dst  *int64
	}{
		{"flow_rate", n.FlowRate, &r.FlowRate},
		{"volume", n.Volume, &r.Volume},
		{"volume_total", n.VolumeTotal, &r.VolumeTotal},
		{"conductivity", n.Conductivity, &r.Conductivity},
		{"suspended_solids", n.SuspendedSolids, &r.SuspendedSolids},
		{"absorbance", n.Absorbance, &r.Absorbance},
		{"turbidity", n.Turbidity, &r.Turbidity},
	} {
		if f.src == nil {
			return nil, missing(f.name)
		}
		*f.dst = *f.src
	}
	return r, nil
}

// decodeNative decodes one JSON reading object or a JSON array of them.
// The common shape (see decodeNativeFast) takes a hand-written scanner;
// anything else, valid or not, goes through encoding/json, which gives the
// same readings where both accept and the only error messages.
func decodeNative(body []byte, max int) ([]*chain.Reading, error) {
	if rs, ok := decodeNativeFast(body, max); ok {
		return rs, nil
	}
	return decodeNativeSlow(body, max)
}

// decodeNativeSlow is decodeNative with encoding/json: it defines what a
// native body means and words every error. A key given twice is refused
// first (encoding/json alone would keep the last value).
func decodeNativeSlow(body []byte, max int) ([]*chain.Reading, error) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: the body is empty; send a reading object or an array of them", ErrEmpty)
	}
	if err := walkKeys(body, refuseDuplicateField); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var out []*chain.Reading
	switch body[0] {
	case '{':
		var n nativeReading
		if err := dec.Decode(&n); err != nil {
			return nil, jsonErr(0, err)
		}
		r, err := n.reading(0)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	case '[':
		if _, err := dec.Token(); err != nil {
			return nil, jsonErr(0, err)
		}
		for i := 0; dec.More(); i++ {
			if i >= max {
				return nil, fmt.Errorf("%w: more than %d readings in one request; split the batch", ErrTooMany, max)
			}
			var n *nativeReading
			if err := dec.Decode(&n); err != nil {
				return nil, jsonErr(i, err)
			}
			if n == nil {
				return nil, fmt.Errorf("%w: reading %d is null", ErrMalformed, i)
			}
			r, err := n.reading(i)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonErr(len(out), err)
		}
	default:
		return nil, fmt.Errorf("%w: want a JSON reading object or an array of them, got %q", ErrMalformed, truncate(string(body), 16))
	}
	if err := expectEOF(dec); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the array is empty", ErrEmpty)
	}
	return out, nil
}

// refuseDuplicateField refuses a reading that names a field twice.
func refuseDuplicateField(k objectKey) error {
	if !k.dup {
		return nil
	}
	return fmt.Errorf("%w: reading %d: %q is given twice (keys are matched ignoring case); send each field once", ErrDuplicateKey, k.elem, truncate(string(k.name), 40))
}

// expectEOF rejects anything after the value.
func expectEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the end of the JSON value", ErrMalformed)
	}
	return nil
}

// jsonErr turns an encoding/json error about element i into one of ours,
// naming the field and what it wants rather than Go types.
func jsonErr(i int, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: reading %d: JSON syntax error at byte %d: %v", ErrMalformed, i, syn.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: reading %d: the JSON ends early", ErrMalformed, i)
	case errors.As(err, &typ):
		want := "an integer on the chain's scale (see chain.Measures)"
		switch typ.Field {
		case "seq":
			want = "a positive integer"
		case "":
			return fmt.Errorf("%w: reading %d: want a reading object, got %s", ErrMalformed, i, typ.Value)
		}
		return fmt.Errorf("%w: reading %d: %s: want %s, got %s", ErrBadValue, i, typ.Field, want, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%w: reading %d: %s (fields are %s, image_hash)", ErrUnknownField, i, strings.TrimPrefix(err.Error(), "json: unknown field "), requiredFields)
	}
	// Errors of the fields' own decoders (device, time, sig, image_hash)
	// already name the field and what it wants.
	return fmt.Errorf("%w: reading %d: %v", ErrBadValue, i, err)
}
