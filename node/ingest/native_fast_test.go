package ingest

import (
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
)

// member is one key and its raw JSON value, for building reading objects
// member by member.
type member struct{ key, value string }

// members is r as the members of its native object, in EncodeJSON's order.
func members(r *chain.Reading) []member {
	m := []member{
		{"device", `"` + r.Device.String() + `"`},
		{"seq", strconv.FormatUint(r.Seq, 10)},
		{"time", `"` + r.Time.String() + `"`},
		{"flow_rate", strconv.FormatInt(r.FlowRate, 10)},
		{"volume", strconv.FormatInt(r.Volume, 10)},
		{"volume_total", strconv.FormatInt(r.VolumeTotal, 10)},
		{"conductivity", strconv.FormatInt(r.Conductivity, 10)},
		{"suspended_solids", strconv.FormatInt(r.SuspendedSolids, 10)},
		{"absorbance", strconv.FormatInt(r.Absorbance, 10)},
		{"turbidity", strconv.FormatInt(r.Turbidity, 10)},
	}
	if r.ImageHash != nil {
		m = append(m, member{"image_hash", `"` + r.ImageHash.String() + `"`})
	}
	return append(m, member{"sig", `"` + hex.EncodeToString(r.Sig) + `"`})
}

// object writes ms as a JSON object, sep between all tokens.
func object(ms []member, sep string) string {
	var b strings.Builder
	b.WriteString("{" + sep)
	for i, m := range ms {
		if i > 0 {
			b.WriteString("," + sep)
		}
		b.WriteString(`"` + m.key + `"` + sep + ":" + sep + m.value + sep)
	}
	b.WriteString("}")
	return b.String()
}

// set returns ms with key's value replaced (or the member appended).
func set(ms []member, key, value string) []member {
	out := append([]member(nil), ms...)
	for i := range out {
		if out[i].key == key {
			out[i].value = value
			return out
		}
	}
	return append(out, member{key, value})
}

// drop returns ms without key.
func drop(ms []member, key string) []member {
	var out []member
	for _, m := range ms {
		if m.key != key {
			out = append(out, m)
		}
	}
	return out
}

type fastCase struct {
	name string
	body string
	max  int
}

// fastCommon are bodies of the common shape: the fast path must take them.
func fastCommon(t testing.TB) []fastCase {
	key := testKey(t, "fast")
	rs := []*chain.Reading{signedReading(t, key, 1), signedReading(t, key, 2), signedReading(t, key, 3)}
	h := chain.HashBytes([]byte("image"))
	rs[1].ImageHash = &h
	batch, err := EncodeJSON(rs)
	if err != nil {
		t.Fatal(err)
	}
	one, err := EncodeJSON(rs[:1])
	if err != nil {
		t.Fatal(err)
	}
	indented, err := json.MarshalIndent(rs, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	base := members(rs[0])
	withHash := members(rs[1])
	obj := func(ms []member) string { return object(ms, "") }
	upper := func(s string) string { return strings.ToUpper(s) }
	// The shortest object the fast path accepts: minReadingJSON.
	minimal := base
	for _, f := range []string{"seq", "time", "flow_rate", "volume", "volume_total", "conductivity", "suspended_solids", "absorbance", "turbidity"} {
		minimal = set(minimal, f, "0")
	}
	reversed := append([]member(nil), withHash...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	return []fastCase{
		{"EncodeJSON batch", string(batch), 64},
		{"EncodeJSON batch at max", string(batch), len(rs)},
		{"array of one", string(one), 1},
		{"single object", string(one[1 : len(one)-1]), 1},
		{"indented", string(indented), 64},
		{"every whitespace between tokens", " \t\r\n[ \t\r\n" + object(base, " \t\r\n") + " \t\r\n, \t\r\n" + object(withHash, "\n\n") + " \t\r\n] \t\r\n", 64},
		{"members reversed", obj(reversed), 1},
		{"image_hash", obj(withHash), 1},
		{"upper-case hex", obj(set(set(set(withHash, "device", upper(withHash[0].value)), "sig", upper(withHash[len(withHash)-1].value)), "image_hash", upper(withHash[10].value))), 1},
		{"time without fraction", obj(set(base, "time", `"2026-11-29T10:00:00Z"`)), 1},
		{"time with offset", obj(set(base, "time", `"2026-11-29T10:00:00+05:30"`)), 1},
		{"time with negative offset", obj(set(base, "time", `"2026-11-29T10:00:00-01:00"`)), 1},
		{"time fraction of one digit", obj(set(base, "time", `"2026-11-29T10:00:00.5Z"`)), 1},
		{"time in nanoseconds with offset", obj(set(base, "time", `"2026-11-29T10:00:00.123456789+01:00"`)), 1},
		{"time before 1970", obj(set(base, "time", `"1969-12-31T23:59:59.999Z"`)), 1},
		{"time in milliseconds", obj(set(base, "time", "1764410400000")), 1},
		{"negative time in milliseconds", obj(set(base, "time", "-1")), 1},
		{"time -0", obj(set(base, "time", "-0")), 1},
		{"time int64 min", obj(set(base, "time", "-9223372036854775808")), 1},
		{"negative measures", obj(set(set(base, "volume", "-12500000"), "flow_rate", "-1")), 1},
		{"measure -0", obj(set(base, "turbidity", "-0")), 1},
		{"measure int64 max", obj(set(base, "volume_total", "9223372036854775807")), 1},
		{"measure int64 min", obj(set(base, "conductivity", "-9223372036854775808")), 1},
		{"seq 0", obj(set(base, "seq", "0")), 1},
		{"seq uint64 max", obj(set(base, "seq", "18446744073709551615")), 1},
		{"minimal", obj(minimal), 1},
	}
}

// fastFallback are bodies the fast path leaves to encoding/json, valid
// (slowOK) or not.
func fastFallback(t testing.TB) []struct {
	fastCase
	slowOK bool
} {
	key := testKey(t, "fast")
	r := signedReading(t, key, 1)
	base := members(r)
	obj := func(ms []member) string { return object(ms, "") }
	good := obj(base)
	dev := r.Device.String()
	sig := hex.EncodeToString(r.Sig)
	type c = struct {
		fastCase
		slowOK bool
	}
	f := func(name, body string, slowOK bool) c { return c{fastCase{name, body, 64}, slowOK} }
	return []c{
		// Valid, but not the common shape.
		f("escape in device", obj(set(base, "device", `"\u0030`+dev[1:]+`"`)), true),
		f("escape in sig", obj(set(base, "sig", `"`+sig[:127]+`\u0030"`)), true),
		f("escape in time", obj(set(base, "time", `"2026-11-29T10:00:00\u005a"`)), true),
		f("escape in key", strings.Replace(good, `"device"`, `"dev\u0069ce"`, 1), true),
		f("upper-case key", strings.Replace(good, `"device"`, `"Device"`, 1), true),
		f("null image_hash", obj(set(base, "image_hash", "null")), true),
		f("DEL in time", obj(set(base, "time", "\"2026-11-29T10:00:00\x7fZ\"")), false),
		// Invalid.
		f("duplicate key", obj(append(base, member{"seq", "2"})), false),
		f("duplicate key, same value", obj(append(base, member{"seq", "1"})), false),
		f("duplicate key in another case", obj(append(base, member{"SEQ", "2"})), false),
		f("duplicate key escaped", obj(append(base, member{`s\u0065q`, "2"})), false),
		f("duplicate key folded", obj(append(base, member{"\u017feq", "2"})), false), // ſ folds to s
		f("duplicate null image_hash", obj(append(set(base, "image_hash", "null"), member{"image_hash", `"` + strings.Repeat("ab", 32) + `"`})), false),
		f("duplicate key in the second reading", "["+good+","+obj(append(base, member{"turbidity", "1"}))+"]", false),
		f("empty", "", false),
		f("whitespace", " \n", false),
		f("empty array", "[]", false),
		f("empty array with space", "[ ]", false),
		f("empty object", "{}", false),
		f("array of empty object", "[{}]", false),
		f("null", "null", false),
		f("null reading", "[null]", false),
		f("string", `"x"`, false),
		f("number", "1", false),
		f("byte order mark", "\xef\xbb\xbf"+good, false),
		f("unterminated", good[:len(good)-1], false),
		f("unterminated array", "["+good, false),
		f("unterminated string", `{"device":"`+dev, false),
		f("trailing data", good+" x", false),
		f("two objects", good+good, false),
		f("trailing comma in array", "["+good+",]", false),
		f("trailing comma in object", good[:len(good)-1]+",}", false),
		f("comma after array", "["+good+"],", false),
		f("missing colon", strings.Replace(good, `"seq":`, `"seq" `, 1), false),
		f("unknown key", obj(append(base, member{"temperature", "1"})), false),
		f("missing field", obj(drop(base, "turbidity")), false),
		f("missing sig", obj(drop(base, "sig")), false),
		f("float measure", obj(set(base, "volume", "1.0")), false),
		f("exponent measure", obj(set(base, "volume", "1e3")), false),
		f("exponent seq", obj(set(base, "seq", "1e3")), false),
		f("float time", obj(set(base, "time", "1764410400000.5")), false),
		f("leading zero", obj(set(base, "volume", "01")), false),
		f("plus sign", obj(set(base, "volume", "+1")), false),
		f("lone minus", obj(set(base, "volume", "-")), false),
		f("string measure", obj(set(base, "volume", `"1"`)), false),
		f("string seq", obj(set(base, "seq", `"1"`)), false),
		f("bool measure", obj(set(base, "volume", "true")), false),
		f("null measure", obj(set(base, "volume", "null")), false),
		f("null device", obj(set(base, "device", "null")), false),
		f("nested object", obj(set(base, "volume", `{"v":1}`)), false),
		f("nested array", obj(set(base, "volume", "[1]")), false),
		f("measure int64 max + 1", obj(set(base, "volume", "9223372036854775808")), false),
		f("measure int64 min - 1", obj(set(base, "volume", "-9223372036854775809")), false),
		f("measure far out of range", obj(set(base, "volume", "123456789012345678901234567890")), false),
		f("time int64 max + 1", obj(set(base, "time", "9223372036854775808")), false),
		f("seq uint64 max + 1", obj(set(base, "seq", "18446744073709551616")), false),
		f("negative seq", obj(set(base, "seq", "-1")), false),
		f("seq -0", obj(set(base, "seq", "-0")), false),
		f("device not hex", obj(set(base, "device", `"zz`+dev[2:]+`"`)), false),
		f("device too short", obj(set(base, "device", `"`+dev[2:]+`"`)), false),
		f("device too long", obj(set(base, "device", `"`+dev+`00"`)), false),
		f("sig too short", obj(set(base, "sig", `"`+sig[2:]+`"`)), false),
		f("sig not hex", obj(set(base, "sig", `"`+sig[:126]+`gg"`)), false),
		f("image_hash not hex", obj(set(base, "image_hash", `"`+strings.Repeat("x", 64)+`"`)), false),
		f("control character in device", obj(set(base, "device", "\"\n"+dev[1:]+"\"")), false),
		f("time not RFC 3339", obj(set(base, "time", `"29/11/2026 10:00"`)), false),
		f("time month 13", obj(set(base, "time", `"2026-13-29T10:00:00Z"`)), false),
		f("time empty", obj(set(base, "time", `""`)), false),
		f("time non-ASCII", obj(set(base, "time", `"2026-11-29T10:00:00Zé"`)), false),
		{fastCase{"more than max", "[" + good + "," + good + "," + good + "]", 2}, false},
		{fastCase{"too many for max 1", "[" + good + "," + good + "]", 1}, false},
	}
}

// TestDecodeNativeFastAccepts: the fast path takes every common shape, and
// gives what encoding/json gives.
func TestDecodeNativeFastAccepts(t *testing.T) {
	for _, c := range fastCommon(t) {
		t.Run(c.name, func(t *testing.T) {
			got, ok := decodeNativeFast([]byte(c.body), c.max)
			if !ok {
				t.Fatalf("fast path fell back on\n%s", c.body)
			}
			want, err := decodeNativeSlow([]byte(c.body), c.max)
			if err != nil {
				t.Fatalf("slow path: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fast and slow paths differ:\nfast %+v\nslow %+v", got, want)
			}
		})
	}
}

// TestDecodeNativeFastFallsBack: the fast path leaves every other shape to
// encoding/json, and decodeNative answers exactly as encoding/json does.
func TestDecodeNativeFastFallsBack(t *testing.T) {
	for _, c := range fastFallback(t) {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(c.body)
			if got, ok := decodeNativeFast(body, c.max); ok {
				t.Fatalf("fast path took\n%s\ngiving %+v", c.body, got)
			}
			want, wantErr := decodeNativeSlow(body, c.max)
			if (wantErr == nil) != c.slowOK {
				t.Fatalf("slow path: got error %v, want success %v", wantErr, c.slowOK)
			}
			got, err := decodeNative(body, c.max)
			if !reflect.DeepEqual(got, want) || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("decodeNative differs from the slow path:\ngot  %+v, %v\nwant %+v, %v", got, err, want, wantErr)
			}
		})
	}
}

func TestDecodeNativeFastMinimal(t *testing.T) {
	for _, c := range fastCommon(t) {
		if c.name == "minimal" && len(c.body) != minReadingJSON {
			t.Fatalf("the shortest reading object is %d bytes, minReadingJSON %d:\n%s", len(c.body), minReadingJSON, c.body)
		}
	}
	// A batch of such objects is exactly at the bound.
	var minimal string
	for _, c := range fastCommon(t) {
		if c.name == "minimal" {
			minimal = c.body
		}
	}
	body := "[" + strings.TrimSuffix(strings.Repeat(minimal+",", 5), ",") + "]"
	if _, ok := decodeNativeFast([]byte(body), 64); !ok {
		t.Fatal("fast path fell back on a batch of minimal readings")
	}
}

// TestDecodeNativeFastOwnsValues: the readings do not alias the body, and
// their signatures do not share room for appends.
func TestDecodeNativeFastOwnsValues(t *testing.T) {
	c := fastCommon(t)[0]
	body := []byte(c.body)
	got, ok := decodeNativeFast(body, c.max)
	if !ok {
		t.Fatal("fast path fell back")
	}
	want, err := decodeNativeSlow([]byte(c.body), c.max)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 0
	}
	_ = append(got[0].Sig, 1, 2, 3)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("readings changed after the body or a signature was written to:\ngot  %+v\nwant %+v", got, want)
	}
}

// TestDecodeTakesFastPath: Decode of a common body allocates per batch, not
// per reading (encoding/json allocates about 24 times a reading).
func TestDecodeTakesFastPath(t *testing.T) {
	key := testKey(t, "fast")
	rs := make([]*chain.Reading, 100)
	for i := range rs {
		rs[i] = signedReading(t, key, uint64(i+1))
	}
	body, err := EncodeJSON(rs)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		got, err := Decode(ContentTypeJSON, body)
		if err != nil || len(got) != len(rs) {
			t.Fatalf("decoded %d readings: %v", len(got), err)
		}
	})
	if allocs > 10 {
		t.Fatalf("Decode made %.0f allocations for %d readings: not the fast path", allocs, len(rs))
	}
}

// FuzzNativeFastMatchesSlow: whatever the fast path accepts, encoding/json
// accepts with the same readings.
func FuzzNativeFastMatchesSlow(f *testing.F) {
	for _, c := range fastCommon(f) {
		f.Add([]byte(c.body))
	}
	for _, c := range fastFallback(f) {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		const max = 8
		got, ok := decodeNativeFast(body, max)
		if !ok {
			return
		}
		want, err := decodeNativeSlow(body, max)
		if err != nil {
			t.Fatalf("fast path took a body the slow path rejects (%v):\n%q", err, body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast and slow paths differ on\n%q\nfast %+v\nslow %+v", body, got, want)
		}
	})
}
