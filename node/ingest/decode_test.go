package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// nativeObject is a valid native reading as a generic JSON object, for
// tables that break one field.
func nativeObject(t *testing.T, r *chain.Reading) map[string]any {
	t.Helper()
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecodeNative(t *testing.T) {
	key := testKey(t, "a")
	rs := []*chain.Reading{signedReading(t, key, 1), signedReading(t, key, 2)}
	arr, err := EncodeJSON(rs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode("application/json; charset=utf-8", arr)
	if err != nil {
		t.Fatal(err)
	}
	sameReadings(t, got, rs)
	for _, r := range got {
		if err := r.VerifySignature(testChainID); err != nil {
			t.Fatalf("decoded reading does not verify: %v", err)
		}
	}

	// One object, time as Unix milliseconds, whitespace around.
	obj := nativeObject(t, rs[0])
	obj["time"] = int64(rs[0].Time)
	one, _ := json.Marshal(obj)
	got, err = Decode(ContentTypeJSON, append(append([]byte(" \n"), one...), '\n'))
	if err != nil {
		t.Fatal(err)
	}
	sameReadings(t, got, rs[:1])

	// No content type: detected.
	got, err = Decode("", arr)
	if err != nil {
		t.Fatal(err)
	}
	sameReadings(t, got, rs)
}

func TestDecodeNativeRejects(t *testing.T) {
	key := testKey(t, "a")
	valid := signedReading(t, key, 7)
	cases := []struct {
		name  string
		edit  func(m map[string]any)
		raw   string // used instead of the edited object when set
		want  error
		wants string
	}{
		{name: "missing device", edit: func(m map[string]any) { delete(m, "device") }, want: ErrMissingField, wants: `"device"`},
		{name: "missing seq", edit: func(m map[string]any) { delete(m, "seq") }, want: ErrMissingField, wants: `"seq"`},
		{name: "missing time", edit: func(m map[string]any) { delete(m, "time") }, want: ErrMissingField, wants: `"time"`},
		{name: "missing flow", edit: func(m map[string]any) { delete(m, "flow_rate") }, want: ErrMissingField, wants: `"flow_rate"`},
		{name: "null turbidity", edit: func(m map[string]any) { m["turbidity"] = nil }, want: ErrMissingField, wants: `"turbidity"`},
		{name: "missing sig", edit: func(m map[string]any) { delete(m, "sig") }, want: ErrMissingField, wants: `"sig"`},
		{name: "unknown field", edit: func(m map[string]any) { m["temperature"] = 20 }, want: ErrUnknownField, wants: "temperature"},
		{name: "fractional flow", edit: func(m map[string]any) { m["flow_rate"] = 1.5 }, want: ErrBadValue, wants: "flow_rate"},
		{name: "flow beyond int64", edit: func(m map[string]any) { m["flow_rate"] = json.Number("9223372036854775808") }, want: ErrBadValue, wants: "flow_rate"},
		{name: "huge exponent", edit: func(m map[string]any) { m["conductivity"] = json.Number("1e400") }, want: ErrBadValue, wants: "conductivity"},
		{name: "negative seq", edit: func(m map[string]any) { m["seq"] = -1 }, want: ErrBadValue, wants: "seq"},
		{name: "seq as text", edit: func(m map[string]any) { m["seq"] = "7" }, want: ErrBadValue, wants: "seq"},
		{name: "short device", edit: func(m map[string]any) { m["device"] = "abcd" }, want: ErrBadValue, wants: "reading 0"},
		{name: "short sig", edit: func(m map[string]any) { m["sig"] = "abcd" }, want: ErrBadValue, wants: "signature"},
		{name: "bad time text", edit: func(m map[string]any) { m["time"] = "yesterday" }, want: ErrBadValue, wants: "RFC 3339"},
		{name: "NaN literal", raw: `{"device":"00","flow_rate":NaN}`, want: ErrMalformed, wants: "syntax"},
		{name: "Infinity literal", raw: `[{"flow_rate":Infinity}]`, want: ErrMalformed, wants: "syntax"},
		{name: "truncated", raw: `[{"seq":1`, want: ErrMalformed},
		{name: "trailing data", raw: "VALID{}", want: ErrMalformed, wants: "after the end"},
		{name: "not an object", raw: `[1]`, want: ErrMalformed, wants: "reading object"},
		{name: "a string", raw: `"reading"`, want: ErrMalformed},
		{name: "null element", raw: `[null]`, want: ErrMalformed, wants: "null"},
		{name: "empty array", raw: `[]`, want: ErrEmpty},
		{name: "empty body", raw: ` `, want: ErrEmpty},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			switch {
			case strings.HasPrefix(c.raw, "VALID"):
				b, _ := json.Marshal(nativeObject(t, valid))
				body = append(b, c.raw[len("VALID"):]...)
			case c.raw != "":
				body = []byte(c.raw)
			default:
				m := nativeObject(t, valid)
				c.edit(m)
				body, _ = json.Marshal(m)
			}
			rs, err := Decode(ContentTypeJSON, body)
			if err == nil {
				t.Fatalf("accepted %s as %d readings", body, len(rs))
			}
			if !errors.Is(err, c.want) || !errors.Is(err, ErrBadBody) {
				t.Fatalf("error %q does not wrap %v and ErrBadBody", err, c.want)
			}
			if !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("error %q does not mention %q", err, c.wants)
			}
		})
	}
}

func TestDecodeLimit(t *testing.T) {
	key := testKey(t, "a")
	var rs []*chain.Reading
	for i := 1; i <= 5; i++ {
		rs = append(rs, signedReading(t, key, uint64(i)))
	}
	nat, _ := EncodeJSON(rs)
	sen, _ := EncodeSenML(rs)
	for _, c := range []struct {
		ct   string
		body []byte
	}{{ContentTypeJSON, nat}, {ContentTypeSenML, sen}} {
		if _, err := DecodeLimit(c.ct, c.body, 5); err != nil {
			t.Fatalf("%s: 5 readings at limit 5: %v", c.ct, err)
		}
		_, err := DecodeLimit(c.ct, c.body, 4)
		if !errors.Is(err, ErrTooMany) {
			t.Fatalf("%s: 5 readings at limit 4: got %v, want ErrTooMany", c.ct, err)
		}
	}
}

func TestDecodeContentType(t *testing.T) {
	_, err := Decode("application/x-www-form-urlencoded", []byte(`[]`))
	if !errors.Is(err, ErrContentType) || !strings.Contains(err.Error(), ContentTypeSenML) {
		t.Fatalf("got %v, want ErrContentType naming the accepted types", err)
	}
	_, err = Decode("application/json; charset", []byte(`[]`))
	if !errors.Is(err, ErrContentType) {
		t.Fatalf("malformed media type: got %v", err)
	}
}

func TestSniff(t *testing.T) {
	key := testKey(t, "a")
	rs := []*chain.Reading{signedReading(t, key, 1)}
	nat, _ := EncodeJSON(rs)
	sen, _ := EncodeSenML(rs)
	obj, _ := json.Marshal(rs[0])
	for _, c := range []struct {
		body string
		want string
	}{
		{string(nat), ContentTypeJSON},
		{string(obj), ContentTypeJSON},
		{string(sen), ContentTypeSenML},
		{` [ {"n":"x"}]`, ContentTypeSenML},
		{`[]`, ContentTypeJSON},
		{`garbage`, ContentTypeJSON},
		{``, ContentTypeJSON},
	} {
		if got := Sniff([]byte(c.body)); got != c.want {
			t.Errorf("Sniff(%.40s) = %s, want %s", c.body, got, c.want)
		}
	}
}

func TestSubmitterFunc(t *testing.T) {
	called := 0
	var s Submitter = SubmitterFunc(func(rs []*chain.Reading) []error {
		called += len(rs)
		return make([]error, len(rs))
	})
	errs := s.Submit(make([]*chain.Reading, 3))
	if called != 3 || len(errs) != 3 {
		t.Fatalf("called with %d, %d errors", called, len(errs))
	}
}

func ExampleDecode() {
	body := `{"device":"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	 "seq":42,"time":"2026-11-29T10:00:00Z","flow_rate":12500000,"volume":12500000,
	 "volume_total":905250000,"conductivity":8500,"suspended_solids":250,"absorbance":120,
	 "turbidity":450,"sig":"` + strings.Repeat("00", 64) + `"}`
	rs, err := Decode(ContentTypeJSON, []byte(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(rs), rs[0].Seq, rs[0].Time, rs[0].FlowRate)
	// Output: 1 42 2026-11-29T10:00:00.000Z 12500000
}
