package ingest

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// TestDecodeRefusesDuplicateKeys: a key given twice, in any spelling
// encoding/json takes for the same field, refuses the body, naming the
// reading or record and the key; encoding/json alone keeps the last value.
func TestDecodeRefusesDuplicateKeys(t *testing.T) {
	key := testKey(t, "dup")
	r := signedReading(t, key, 1)
	good := object(members(r), "")
	withDup := func(extra member) string { return object(append(members(r), extra), "") }
	senml, err := EncodeSenML([]*chain.Reading{r})
	if err != nil {
		t.Fatal(err)
	}
	flow := `{"n":"flow_rate",`
	if !strings.Contains(string(senml), flow) {
		t.Fatalf("pack has no %s: %s", flow, senml)
	}
	senmlWith := func(extra string) string {
		return strings.Replace(string(senml), flow, flow+extra+",", 1)
	}
	for _, c := range []struct {
		name, ct, body, wants string
	}{
		{"native seq twice", ContentTypeJSON, withDup(member{"seq", "2"}), `reading 0: "seq" is given twice`},
		{"native same value twice", ContentTypeJSON, withDup(member{"volume", "3000000"}), `"volume" is given twice`},
		{"native other case", ContentTypeJSON, withDup(member{"Flow_Rate", "1"}), `"Flow_Rate" is given twice`},
		{"native escaped", ContentTypeJSON, withDup(member{`d\u0065vice`, `"` + r.Device.String() + `"`}), `"device" is given twice`},
		{"native second reading", ContentTypeJSON, "[" + good + "," + withDup(member{"sig", `"` + strings.Repeat("00", 64) + `"`}) + "]", `reading 1: "sig" is given twice`},
		{"senml v twice", ContentTypeSenML, senmlWith(`"v":999999`), `label "v" is given twice`},
		{"senml v then V", ContentTypeSenML, strings.Replace(string(senml), `"v":12500}`, `"v":12500,"V":1}`, 1), `label "V" is given twice`},
		{"senml n twice", ContentTypeSenML, senmlWith(`"n":"turbidity"`), `record 1: label "n" is given twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := Decode(c.ct, []byte(c.body))
			if !errors.Is(err, ErrDuplicateKey) || !errors.Is(err, ErrBadBody) || !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("got %d readings, %v; want ErrDuplicateKey saying %s\n%s", len(rs), err, c.wants, c.body)
			}
		})
	}
	// Without the duplicates both bodies decode.
	for _, body := range []struct{ ct, body string }{{ContentTypeJSON, good}, {ContentTypeSenML, string(senml)}} {
		if _, err := Decode(body.ct, []byte(body.body)); err != nil {
			t.Fatalf("%s: %v", body.ct, err)
		}
	}
}

// TestSenMLUnknownLabels: RFC 8428 §4.4. Unknown labels are ignored,
// whatever their value; one ending in "_" must be understood and refuses
// the pack; a label that differs from a defined one only in case is
// refused (encoding/json would read it as the defined one).
func TestSenMLUnknownLabels(t *testing.T) {
	key := testKey(t, "labels")
	want := []*chain.Reading{signedReading(t, key, 3)}
	encode := func(p []map[string]any) []byte {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pack := func() []map[string]any {
		raw, err := EncodeSenML(want)
		if err != nil {
			t.Fatal(err)
		}
		var p []map[string]any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	ignored := map[string]any{
		"foo":    "bar",
		"l":      []any{map[string]any{"href": "x"}},
		"nested": map[string]any{"foo_": 1, "n": "not a label here"},
		"x-1":    nil,
	}
	p := pack()
	for _, rec := range p {
		for k, v := range ignored {
			rec[k] = v
		}
	}
	got, err := Decode(ContentTypeSenML, encode(p))
	if err != nil {
		t.Fatalf("unknown labels were not ignored: %v", err)
	}
	sameReadings(t, got, want)

	for _, c := range []struct {
		label string
		want  error
		wants string
	}{
		{"foo_", ErrUnknownField, "must-understand"},
		{"_", ErrUnknownField, "must-understand"},
		{"bn_", ErrUnknownField, "must-understand"},
		{"N", ErrUnknownField, "case-sensitive"},
		{"Vs", ErrUnknownField, "case-sensitive"},
		{"V", ErrUnknownField, "case-sensitive"}, // in a record without "v"
	} {
		p := pack()
		p[len(p)-1][c.label] = "x"
		body := encode(p) // json.Marshal sorts keys: upper case first
		_, err := Decode(ContentTypeSenML, body)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.wants) || !strings.Contains(err.Error(), `"`+c.label+`"`) {
			t.Errorf("label %q: got %v, want %v saying %s", c.label, err, c.want, c.wants)
		}
	}
}

// TestSenMLRFC8428Examples runs the label rules over the examples of RFC
// 8428 (testdata, copied from ../shared/testvectors): none of their labels
// is refused, not even the draft's link label "l", nor with "foo":"bar"
// added to every record; adding "foo_" refuses each. (They name no
// Waterchain device, so Decode refuses them for their names, never for a
// label.)
func TestSenMLRFC8428Examples(t *testing.T) {
	raw, err := os.ReadFile("testdata/senml_rfc8428_examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Examples []struct {
			Name string `json:"name"`
			Pack string `json:"pack"`
		} `json:"examples"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Examples) != 13 {
		t.Fatalf("%d examples, want 13", len(f.Examples))
	}
	for _, ex := range f.Examples {
		if err := walkKeys([]byte(ex.Pack), checkSenMLLabel); err != nil {
			t.Errorf("%s: %v", ex.Name, err)
		}
		_, err := Decode(ContentTypeSenML, []byte(ex.Pack))
		if err == nil || errors.Is(err, ErrUnknownField) || errors.Is(err, ErrDuplicateKey) || !strings.Contains(err.Error(), DeviceURNPrefix) {
			t.Errorf("%s: %v, want a refusal of its names", ex.Name, err)
		}
		var recs []map[string]any
		if err := json.Unmarshal([]byte(ex.Pack), &recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			r["foo"] = "bar"
		}
		withFoo, _ := json.Marshal(recs)
		if err := walkKeys(withFoo, checkSenMLLabel); err != nil {
			t.Errorf("%s with foo: %v", ex.Name, err)
		}
		recs[len(recs)-1]["foo_"] = "bar"
		withMust, _ := json.Marshal(recs)
		if err := walkKeys(withMust, checkSenMLLabel); !errors.Is(err, ErrUnknownField) {
			t.Errorf("%s with foo_: %v, want ErrUnknownField", ex.Name, err)
		}
		if _, err := Decode(ContentTypeSenML, withMust); !errors.Is(err, ErrUnknownField) {
			t.Errorf("%s with foo_: Decode gave %v, want ErrUnknownField", ex.Name, err)
		}
	}
}

// TestWalkKeysStopsOnBrokenJSON: on bodies that are not JSON the walk ends
// without a verdict (the decoder words the error), and never reads past
// the body.
func TestWalkKeysStopsOnBrokenJSON(t *testing.T) {
	for _, body := range []string{`{"a`, `{"a\`, `{"a":1,"a`, `}}]]`, `{"\ud800":1}`, strings.Repeat("[", 100) + `{"a":1,"a":2}`, `{"a":"\`} {
		if err := walkKeys([]byte(body), refuseDuplicateField); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
	if err := walkKeys([]byte(`{"a":1,"a":2`), refuseDuplicateField); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("a duplicate before the body breaks off: %v", err)
	}
}
