package ingest

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

func TestSenMLRoundTrip(t *testing.T) {
	a, b := testKey(t, "a"), testKey(t, "b")
	h := chain.HashBytes([]byte("image"))
	withImage := signedReading(t, b, 9)
	withImage.ImageHash = &h
	withImage.FlowRate = -1_234_567 // negative flow is a fault, but must travel
	withImage.Sign(testChainID, b)
	rs := []*chain.Reading{signedReading(t, a, 1), signedReading(t, a, 2), withImage}
	body, err := EncodeSenML(rs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(ContentTypeSenML, body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	sameReadings(t, got, rs)
	for _, r := range got {
		if err := r.VerifySignature(testChainID); err != nil {
			t.Fatal(err)
		}
	}
}

// vendorPack is the example of the package README: a meter reporting in
// registered SenML units where they exist.
const vendorPack = `[
  {"bn":"urn:dev:wc:DEVICE:","bt":1795946400,"bver":10,"n":"seq","vs":"42"},
  {"n":"flow_rate","u":"m3/h","v":12.5},
  {"n":"volume","u":"m3","v":12.5},
  {"n":"volume_total","u":"m3","v":905.25},
  {"n":"conductivity","u":"S/m","v":0.085},
  {"n":"suspended_solids","u":"kg/m3","v":0.025},
  {"n":"absorbance","u":"AU","v":0.12},
  {"n":"turbidity","u":"NTU","v":4.5},
  {"n":"sig","vs":"SIG"}
]`

func vendorBody(dev chain.PubKey, sig string) []byte {
	s := strings.ReplaceAll(vendorPack, "DEVICE", dev.String())
	return []byte(strings.ReplaceAll(s, "SIG", sig))
}

func TestSenMLVendorExample(t *testing.T) {
	key := testKey(t, "vendor")
	want := &chain.Reading{
		Device: key.Public(), Seq: 42, Time: chain.Time(1_795_946_400_000),
		FlowRate: 12_500_000, Volume: 12_500_000, VolumeTotal: 905_250_000,
		Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450,
	}
	want.Sign(testChainID, key)
	got, err := Decode(ContentTypeSenML, vendorBody(key.Public(), hex.EncodeToString(want.Sig)))
	if err != nil {
		t.Fatal(err)
	}
	sameReadings(t, got, []*chain.Reading{want})
	if err := got[0].VerifySignature(testChainID); err != nil {
		t.Fatal(err)
	}
}

func TestSenMLGrouping(t *testing.T) {
	// Two readings of one device in one pack, told apart by time; the
	// second changes only t and the values, keeping the base name, base
	// unit and base time of the first.
	key := testKey(t, "g")
	bn := DeviceURNPrefix + key.Public().String() + ":"
	sig := strings.Repeat("ab", 64)
	rec := func(n, v string, extra string) string {
		return fmt.Sprintf(`{"n":%q,"v":%s%s}`, n, v, extra)
	}
	var recs []string
	recs = append(recs, fmt.Sprintf(`{"bn":%q,"bt":1795946400,"bu":"l","n":"volume","v":1}`, bn))
	for _, dt := range []string{"0", "3600"} {
		tt := fmt.Sprintf(`,"t":%s`, dt)
		if dt != "0" {
			recs = append(recs, rec("volume", "2", tt))
		}
		recs = append(recs,
			rec("volume_total", "10", tt), rec("flow_rate", "1", `,"u":"l/h"`+tt),
			rec("conductivity", "1000", `,"u":"uS/cm"`+tt), rec("suspended_solids", "20", `,"u":"mg/L"`+tt),
			rec("absorbance", "150", `,"u":"mAU"`+tt), rec("turbidity", "3", `,"u":"NTU"`+tt),
			fmt.Sprintf(`{"n":"seq","v":%s%s}`, map[string]string{"0": "1", "3600": "2"}[dt], tt),
			fmt.Sprintf(`{"n":"sig","vs":%q%s}`, sig, tt))
	}
	got, err := Decode("", []byte("["+strings.Join(recs, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d readings, want 2", len(got))
	}
	if got[0].Seq != 1 || got[1].Seq != 2 || got[1].Time-got[0].Time != 3_600_000 {
		t.Fatalf("seq/time: %+v / %+v", got[0], got[1])
	}
	if got[0].Volume != 1000 || got[1].Volume != 2000 || got[1].Conductivity != 10_000 || got[1].Absorbance != 150 {
		t.Fatalf("values: %+v", got[1])
	}
}

// validPack is a generic form of a valid one-reading pack, for tables that
// break one thing.
func validPack(t *testing.T) []map[string]any {
	t.Helper()
	key := testKey(t, "pack")
	raw, err := EncodeSenML([]*chain.Reading{signedReading(t, key, 3)})
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

// recordNamed returns the record of the pack with the given n.
func recordNamed(p []map[string]any, n string) map[string]any {
	for _, r := range p {
		if r["n"] == n {
			return r
		}
	}
	panic("no record " + n)
}

func TestSenMLRejects(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(p []map[string]any) []map[string]any
		want  error
		wants string
	}{
		{"unknown unit", func(p []map[string]any) []map[string]any {
			recordNamed(p, "flow_rate")["u"] = "gal/min"
			return p
		}, ErrUnknownUnit, "gal/min"},
		{"unit of another measure", func(p []map[string]any) []map[string]any {
			recordNamed(p, "conductivity")["u"] = "m3"
			return p
		}, ErrUnknownUnit, "S/m"},
		{"no unit", func(p []map[string]any) []map[string]any {
			delete(recordNamed(p, "turbidity"), "u")
			return p
		}, ErrUnknownUnit, "no unit"},
		{"missing measure", func(p []map[string]any) []map[string]any {
			return append(p[:4], p[5:]...)
		}, ErrMissingField, "has no"},
		{"missing sig", func(p []map[string]any) []map[string]any {
			return p[:len(p)-1]
		}, ErrMissingField, `"sig"`},
		{"measure given twice", func(p []map[string]any) []map[string]any {
			return append(p, map[string]any{"n": "turbidity", "u": "NTU", "v": 1})
		}, ErrMalformed, "twice"},
		{"unknown measure", func(p []map[string]any) []map[string]any {
			return append(p, map[string]any{"n": "temperature", "u": "Cel", "v": 20})
		}, ErrUnknownMeasure, "temperature"},
		{"unknown label", func(p []map[string]any) []map[string]any {
			p[1]["foo_"] = 1
			return p
		}, ErrUnknownField, "foo_"},
		{"boolean value", func(p []map[string]any) []map[string]any {
			p[1]["vb"] = true
			return p
		}, ErrBadValue, "vb"},
		{"sum", func(p []map[string]any) []map[string]any {
			p[1]["s"] = 1
			return p
		}, ErrBadValue, "sum"},
		{"value as text", func(p []map[string]any) []map[string]any {
			recordNamed(p, "flow_rate")["v"] = "12"
			return p
		}, ErrMalformed, "JSON number"},
		{"NaN as text", func(p []map[string]any) []map[string]any {
			recordNamed(p, "flow_rate")["v"] = "NaN"
			return p
		}, ErrMalformed, "JSON number"},
		{"null value", func(p []map[string]any) []map[string]any {
			recordNamed(p, "flow_rate")["v"] = nil
			return p
		}, ErrMalformed, "JSON number"},
		{"huge value", func(p []map[string]any) []map[string]any {
			recordNamed(p, "volume_total")["v"] = json.Number("1e30")
			return p
		}, ErrBadValue, "64-bit"},
		{"huge exponent", func(p []map[string]any) []map[string]any {
			recordNamed(p, "volume_total")["v"] = json.Number("1e99999")
			return p
		}, ErrBadValue, "exponent"},
		{"too many digits", func(p []map[string]any) []map[string]any {
			recordNamed(p, "volume_total")["v"] = json.Number("0." + strings.Repeat("1", 60))
			return p
		}, ErrBadValue, "digits"},
		{"string value for a measure", func(p []map[string]any) []map[string]any {
			r := recordNamed(p, "absorbance")
			r["vs"] = "0.1"
			return p
		}, ErrMalformed, "both"},
		{"numeric sig", func(p []map[string]any) []map[string]any {
			r := recordNamed(p, "sig")
			delete(r, "vs")
			r["v"] = 1
			return p
		}, ErrMissingField, "vs"},
		{"short sig", func(p []map[string]any) []map[string]any {
			recordNamed(p, "sig")["vs"] = "abcd"
			return p
		}, ErrBadValue, "128 hex"},
		{"seq not a number", func(p []map[string]any) []map[string]any {
			p[0]["vs"] = "x42"
			return p
		}, ErrBadValue, "decimal"},
		{"fractional numeric seq", func(p []map[string]any) []map[string]any {
			delete(p[0], "vs")
			p[0]["v"] = 1.5
			return p
		}, ErrBadValue, "integer"},
		{"seq with a unit", func(p []map[string]any) []map[string]any {
			p[0]["u"] = "count"
			return p
		}, ErrBadValue, "takes none"},
		{"relative time", func(p []map[string]any) []map[string]any {
			p[0]["bt"] = -5
			return p
		}, ErrBadValue, "relative"},
		{"no time", func(p []map[string]any) []map[string]any {
			delete(p[0], "bt")
			return p
		}, ErrMissingField, "no time"},
		{"bad base name", func(p []map[string]any) []map[string]any {
			p[0]["bn"] = "urn:dev:mac:0024befffe804ff1:"
			return p
		}, ErrMalformed, "urn:dev:wc:"},
		{"bad device hex", func(p []map[string]any) []map[string]any {
			p[0]["bn"] = DeviceURNPrefix + strings.Repeat("zz", 32) + ":"
			return p
		}, ErrMalformed, "name"},
		{"version 11", func(p []map[string]any) []map[string]any {
			p[0]["bver"] = 11
			return p
		}, ErrBadValue, "bver"},
		{"record not an object", func(p []map[string]any) []map[string]any {
			return append(p, nil)
		}, ErrMalformed, "null"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, err := json.Marshal(c.edit(validPack(t)))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Decode(ContentTypeSenML, body)
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
	for _, raw := range []string{`{}`, `[`, `[{"n":1}]`, `[]`, `[{}]`, `[{"bn":"x"}] x`} {
		if rs, err := Decode(ContentTypeSenML, []byte(raw)); err == nil || !errors.Is(err, ErrBadBody) {
			t.Errorf("%s: got %d readings, %v", raw, len(rs), err)
		}
	}
}

func TestToChain(t *testing.T) {
	cases := []struct {
		measure, unit string
		v             float64
		want          int64
	}{
		{"flow_rate", "m3/s", 0.0035, 12_600_000}, // exact decimal: 0.0035 × 3.6e9
		{"flow_rate", "l/s", 1, 3_600_000},
		{"flow_rate", "m3/h", 12.5, 12_500_000},
		{"flow_rate", "l/min", 0.5, 30_000},
		{"flow_rate", "l/h", -3, -3_000},
		{"volume", "m3", 0.0000005, 1},     // 0.5 mL rounds away from zero
		{"volume", "m3", 0.0000004, 0},     // 0.4 mL rounds to 0
		{"volume_total", "l", -0.0005, -1}, // -0.5 mL rounds away from zero
		{"volume_total", "mL", 2.5, 3},
		{"conductivity", "S/m", 0.085, 8_500},
		{"conductivity", "mS/cm", 1.2345, 12_345},
		{"conductivity", "uS/cm", 850.05, 8_501},
		{"suspended_solids", "kg/m3", 0.025, 250},
		{"suspended_solids", "mg/L", 25, 250},
		{"absorbance", "AU", 0.12, 120},
		{"absorbance", "mAU", 0.5, 1},
		{"turbidity", "NTU", 4.5, 450},
		{"turbidity", "NTU", 0.005, 1},
	}
	for _, c := range cases {
		got, err := ToChain(c.measure, c.unit, c.v)
		if err != nil || got != c.want {
			t.Errorf("ToChain(%s, %s, %v) = %d, %v; want %d", c.measure, c.unit, c.v, got, err, c.want)
		}
	}
	for _, c := range []struct {
		measure, unit string
		v             float64
		want          error
	}{
		{"flow_rate", "m3/h", math.NaN(), ErrBadValue},
		{"flow_rate", "m3/h", math.Inf(1), ErrBadValue},
		{"flow_rate", "m3/h", math.Inf(-1), ErrBadValue},
		{"volume_total", "m3", 1e20, ErrBadValue},
		{"flow_rate", "gal/min", 1, ErrUnknownUnit},
		{"temperature", "Cel", 1, ErrUnknownMeasure},
	} {
		if _, err := ToChain(c.measure, c.unit, c.v); !errors.Is(err, c.want) {
			t.Errorf("ToChain(%s, %s, %v): got %v, want %v", c.measure, c.unit, c.v, err, c.want)
		}
	}
}

func TestUnitsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, u := range Units {
		if _, ok := (&chain.Reading{}).MeasureValue(u.Measure); !ok {
			t.Errorf("unit %s names unknown measure %s", u.Symbol, u.Measure)
		}
		if seen[u.Measure+" "+u.Symbol] {
			t.Errorf("unit %s listed twice for %s", u.Symbol, u.Measure)
		}
		seen[u.Measure+" "+u.Symbol] = true
		if u.Factor < 1 {
			t.Errorf("unit %s: factor %d", u.Symbol, u.Factor)
		}
	}
	for _, m := range chain.Measures {
		sym, ok := encodeUnits[m.Name]
		if !ok {
			t.Fatalf("no encode unit for %s", m.Name)
		}
		u, err := LookupUnit(m.Name, sym)
		if err != nil || log10Exact(u.Factor) < 0 {
			t.Errorf("encode unit %s of %s: factor %d is not a power of ten (%v)", sym, m.Name, u.Factor, err)
		}
		// The chain's own human unit (chain.Measures) is accepted with the
		// chain's scale, so that readings of `waterchain reading send` and
		// SenML agree.
		if u, err := LookupUnit(m.Name, strings.Replace(m.Unit, "L", "l", 1)); err == nil && u.Factor != m.Scale {
			t.Errorf("%s: unit %s has factor %d, chain scale is %d", m.Name, u.Symbol, u.Factor, m.Scale)
		}
	}
}

func TestFormatScaled(t *testing.T) {
	for _, c := range []struct {
		n    int64
		k    int
		want string
	}{
		{12500, 3, "12.5"}, {-7, 3, "-0.007"}, {0, 3, "0"}, {1000, 3, "1"}, {5, 0, "5"},
		{math.MinInt64, 3, "-9223372036854775.808"}, {math.MaxInt64, 5, "92233720368547.75807"},
	} {
		got := formatScaled(c.n, c.k)
		if got != c.want {
			t.Errorf("formatScaled(%d, %d) = %s, want %s", c.n, c.k, got, c.want)
		}
		d, err := parseDecimal(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := d.mulInt(int64(math.Pow10(c.k))).roundInt64()
		if err != nil || back != c.n {
			t.Errorf("parse back %s: %d, %v", got, back, err)
		}
	}
}

// Example_signReading is the worked example of the package README: how a
// meter turns its measurements into the canonical reading it signs.
func Example_signReading() {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	key, _ := chain.NewPrivateKey(seed)
	conv := func(measure, unit string, v float64) int64 {
		n, err := ToChain(measure, unit, v)
		if err != nil {
			panic(err)
		}
		return n
	}
	r := &chain.Reading{
		Device:          key.Public(),
		Seq:             42,
		Time:            chain.Time(1_795_946_400_000), // 2026-11-29T10:00:00Z
		FlowRate:        conv("flow_rate", "m3/h", 12.5),
		Volume:          conv("volume", "m3", 12.5),
		VolumeTotal:     conv("volume_total", "m3", 905.25),
		Conductivity:    conv("conductivity", "S/m", 0.085),
		SuspendedSolids: conv("suspended_solids", "kg/m3", 0.025),
		Absorbance:      conv("absorbance", "AU", 0.12),
		Turbidity:       conv("turbidity", "NTU", 4.5),
	}
	canonical := r.SigningBytes()
	digest := chain.SignDigest(chain.DomainReading, "waterchain-devnet", canonical)
	r.Sign("waterchain-devnet", key)
	fmt.Println("device   ", r.Device)
	fmt.Println("values   ", r.FlowRate, r.Volume, r.VolumeTotal, r.Conductivity, r.SuspendedSolids, r.Absorbance, r.Turbidity)
	fmt.Println("canonical", hex.EncodeToString(canonical))
	fmt.Println("digest   ", hex.EncodeToString(digest[:]))
	fmt.Println("sig      ", hex.EncodeToString(r.Sig))
	// Output:
	// device    03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8
	// values    12500000 12500000 905250000 8500 250 120 450
	// canonical aa01582003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b802182a031b000001a226bf4900041a00bebc20051a00bebc20061a35f504d0071921340818fa0918780a1901c2
	// digest    39af33874f11693072d92fc5380e1ebba6325aa09ddff4d4fa201e4b5695a4f3
	// sig       37a7d72aaebfad4e5da02f285a1f964c3ca9377780d8d106b31cbc4a4d118febdbe509835b09c229758126a294ef0096b8b0264346bac3b7c54f0b7e40399907
}
