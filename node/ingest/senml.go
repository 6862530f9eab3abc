package ingest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"

	"github.com/waterchain/waterchain/chain"
)

// SenML names (RFC 8428). A record's name is the base name followed by its
// own name; Waterchain names are
//
//	urn:dev:wc:<device public key, 64 hex digits>:<field>
//
// with field one of the measure names of chain.Measures, "seq", "sig" or
// "image_hash".
const (
	// DeviceURNPrefix starts every record name.
	DeviceURNPrefix = "urn:dev:wc:"
	// senmlVersion is the highest SenML version (bver) understood.
	senmlVersion = 10
	// relativeTimeLimit: RFC 8428 §4.5.3, times below 2^28 seconds are
	// relative to "now", which a signed reading cannot be.
	relativeTimeLimit = 1 << 28
	// maxRecordsPerReading bounds the records per reading a pack may carry:
	// seven measures, seq, sig, image_hash and two base-only records.
	maxRecordsPerReading = 12
)

// Field names in SenML records other than the measures.
const (
	FieldSeq       = "seq"
	FieldSig       = "sig"
	FieldImageHash = "image_hash"
)

// Number is a JSON number kept as its exact text. Decoding accepts only a
// JSON number (not a string, not null); encoding writes the text as is.
type Number string

// UnmarshalJSON accepts a JSON number token.
func (n *Number) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || !(b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		return fmt.Errorf("want a JSON number, got %s", truncate(string(b), 24))
	}
	*n = Number(b)
	return nil
}

// MarshalJSON writes the number's text; an invalid text is an error.
func (n Number) MarshalJSON() ([]byte, error) {
	if _, err := parseDecimal(string(n)); err != nil {
		return nil, err
	}
	return []byte(n), nil
}

// Record is one SenML record (RFC 8428 §4) with the fields Waterchain
// uses. Base fields apply to this record and every later one of the pack
// until changed.
type Record struct {
	BaseName    *string `json:"bn,omitempty"`
	BaseTime    Number  `json:"bt,omitempty"`
	BaseUnit    *string `json:"bu,omitempty"`
	BaseValue   Number  `json:"bv,omitempty"`
	BaseVersion Number  `json:"bver,omitempty"`
	Name        string  `json:"n,omitempty"`
	Unit        string  `json:"u,omitempty"`
	Value       Number  `json:"v,omitempty"`
	StringValue *string `json:"vs,omitempty"`
	Time        Number  `json:"t,omitempty"`

	// Defined by RFC 8428 but meaningless for a signed reading: rejected
	// with a clear error rather than as unknown.
	BoolValue  json.RawMessage `json:"vb,omitempty"`
	DataValue  json.RawMessage `json:"vd,omitempty"`
	Sum        json.RawMessage `json:"s,omitempty"`
	BaseSum    json.RawMessage `json:"bs,omitempty"`
	UpdateTime json.RawMessage `json:"ut,omitempty"`
}

// Pack is a SenML pack: a JSON array of records.
type Pack []Record

// SenMLFromReading writes r as a SenML pack that DecodeSenML turns back
// into exactly r: one base record naming the device and time, then one
// record per measure in the unit of encodeUnits (registered SenML units
// where one exists), then the signature.
func SenMLFromReading(r *chain.Reading) Pack {
	bn := DeviceURNPrefix + r.Device.String() + ":"
	seq := strconv.FormatUint(r.Seq, 10)
	p := Pack{{BaseName: &bn, BaseTime: Number(formatScaled(int64(r.Time), 3)), Name: FieldSeq, StringValue: &seq}}
	for _, m := range chain.Measures {
		sym := encodeUnits[m.Name]
		u, err := LookupUnit(m.Name, sym)
		if err != nil {
			panic("ingest: encodeUnits names an unknown unit: " + err.Error()) // a bug of this file, caught by its tests
		}
		v, _ := r.MeasureValue(m.Name)
		p = append(p, Record{Name: m.Name, Unit: sym, Value: Number(formatScaled(v, log10Exact(u.Factor)))})
	}
	if r.ImageHash != nil {
		h := r.ImageHash.String()
		p = append(p, Record{Name: FieldImageHash, StringValue: &h})
	}
	sig := hex.EncodeToString(r.Sig)
	p = append(p, Record{Name: FieldSig, StringValue: &sig})
	return p
}

// EncodeSenML writes readings as one SenML JSON pack
// (application/senml+json).
func EncodeSenML(rs []*chain.Reading) ([]byte, error) {
	var all Pack
	for _, r := range rs {
		all = append(all, SenMLFromReading(r)...)
	}
	return json.Marshal(all)
}

// EncodeJSON writes readings as the native JSON array (application/json).
func EncodeJSON(rs []*chain.Reading) ([]byte, error) { return json.Marshal(rs) }

// partial is a reading being assembled from records.
type partial struct {
	r    *chain.Reading
	seen map[string]int // field → index of the record that set it
}

// DecodeSenML decodes a SenML JSON pack into readings. Records are grouped
// into readings by device and resolved time; readings come out in the order
// of their first record. See the package documentation for the format.
func DecodeSenML(body []byte, max int) ([]*chain.Reading, error) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: the body is empty; send a SenML pack", ErrEmpty)
	}
	if body[0] != '[' {
		return nil, fmt.Errorf("%w: a SenML pack is a JSON array of records, got %q", ErrMalformed, truncate(string(body), 16))
	}
	if err := walkKeys(body, checkSenMLLabel); err != nil {
		return nil, err
	}
	// Not DisallowUnknownFields: RFC 8428 §4.4 has a receiver ignore the
	// labels it does not know, which checkSenMLLabel has vetted.
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil, senmlJSONErr(0, err)
	}
	var (
		out      []*chain.Reading
		byKey    = map[string]*partial{}
		base     struct{ name, unit string }
		bt, bv   decimal
		maxRecs  = max * maxRecordsPerReading
		recIndex = 0
	)
	for ; dec.More(); recIndex++ {
		if recIndex >= maxRecs {
			return nil, fmt.Errorf("%w: more than %d SenML records (%d readings) in one request; split the pack", ErrTooMany, maxRecs, max)
		}
		var recp *Record
		if err := dec.Decode(&recp); err != nil {
			return nil, senmlJSONErr(recIndex, err)
		}
		if recp == nil {
			return nil, fmt.Errorf("%w: record %d is null", ErrMalformed, recIndex)
		}
		rec := *recp
		at := func(format string, args ...any) string {
			return fmt.Sprintf("record %d: ", recIndex) + fmt.Sprintf(format, args...)
		}
		switch {
		case rec.BoolValue != nil, rec.DataValue != nil:
			return nil, fmt.Errorf("%w: %s", ErrBadValue, at("boolean (vb) and data (vd) values are not used; measures take \"v\", seq and sig take \"vs\""))
		case rec.Sum != nil, rec.BaseSum != nil, rec.UpdateTime != nil:
			return nil, fmt.Errorf("%w: %s", ErrBadValue, at("sum (s, bs) and update time (ut) are not used"))
		}
		// Base fields first: they apply to this record too.
		if rec.BaseVersion != "" {
			v, err := parseDecimal(string(rec.BaseVersion))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at("bver"), err)
			}
			if n, ok := v.exactInt64(); !ok || n < 1 || n > senmlVersion {
				return nil, fmt.Errorf("%w: %s", ErrBadValue, at("bver %s: only SenML versions 1 to %d are understood", rec.BaseVersion, senmlVersion))
			}
		}
		if rec.BaseName != nil {
			base.name = *rec.BaseName
		}
		if rec.BaseUnit != nil {
			base.unit = *rec.BaseUnit
		}
		if rec.BaseTime != "" {
			d, err := parseDecimal(string(rec.BaseTime))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at("bt"), err)
			}
			bt = d
		}
		if rec.BaseValue != "" {
			d, err := parseDecimal(string(rec.BaseValue))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at("bv"), err)
			}
			bv = d
		}
		if rec.Name == "" && rec.Value == "" && rec.StringValue == nil && rec.Time == "" && rec.Unit == "" {
			continue // a record of base fields only
		}

		device, field, err := parseName(base.name + rec.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at(""), err)
		}
		tsec := bt
		if rec.Time != "" {
			d, err := parseDecimal(string(rec.Time))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at("t"), err)
			}
			tsec = tsec.add(d)
		}
		if tsec.m == nil {
			return nil, fmt.Errorf("%w: %s", ErrMissingField, at("no time: set \"bt\" or \"t\" to absolute Unix seconds"))
		}
		if tsec.cmpInt(relativeTimeLimit) < 0 {
			return nil, fmt.Errorf("%w: %s", ErrBadValue, at("time %s s is relative (below 2^28, RFC 8428 §4.5.3); a signed reading needs an absolute Unix time", tsec.String()))
		}
		ms, err := tsec.mulInt(1000).roundInt64()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at("time"), err)
		}

		key := string(device[:]) + strconv.FormatInt(ms, 10)
		p := byKey[key]
		if p == nil {
			if len(out) >= max {
				return nil, fmt.Errorf("%w: more than %d readings in one request; split the pack", ErrTooMany, max)
			}
			p = &partial{r: &chain.Reading{Device: device, Time: chain.Time(ms)}, seen: map[string]int{}}
			byKey[key] = p
			out = append(out, p.r)
		}
		if prev, dup := p.seen[field]; dup {
			return nil, fmt.Errorf("%w: %s", ErrMalformed, at("%s of device %s at %s is given twice (also in record %d)", field, device.Short(), chain.Time(ms), prev))
		}
		p.seen[field] = recIndex
		if err := setField(p.r, field, rec, base.unit, bv); err != nil {
			return nil, fmt.Errorf("%s: %w", at("%s", field), err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, senmlJSONErr(recIndex, err)
	}
	if err := expectEOF(dec); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the pack has no measurement records", ErrEmpty)
	}
	for _, r := range out {
		p := byKey[string(r.Device[:])+strconv.FormatInt(int64(r.Time), 10)]
		for _, f := range append([]string{FieldSeq, FieldSig}, measureNames()...) {
			if _, ok := p.seen[f]; !ok {
				return nil, fmt.Errorf("%w: the reading of device %s at %s has no %q record (each reading needs seq, sig and every measure: %s)",
					ErrMissingField, r.Device.Short(), r.Time, f, strings.Join(measureNames(), ", "))
			}
		}
	}
	return out, nil
}

// senmlLabels are the labels of Record, which encoding/json decodes.
var senmlLabels = map[string]bool{
	"bn": true, "bt": true, "bu": true, "bv": true, "bver": true,
	"n": true, "u": true, "v": true, "vs": true, "t": true,
	"vb": true, "vd": true, "s": true, "bs": true, "ut": true,
}

// checkSenMLLabel applies RFC 8428 §4.4 to one label of a record: a label
// ending in "_" must be understood, so a pack with one that is not is
// refused; other unknown labels are ignored. It also refuses a label given
// twice, and one that differs from a defined label only in case: the RFC
// makes it an unknown label, to be ignored, but encoding/json would read
// it as the defined one, and the pack would mean one thing here and
// another to other receivers.
func checkSenMLLabel(k objectKey) error {
	name := func() string { return truncate(string(k.name), 40) }
	switch {
	case k.dup:
		return fmt.Errorf("%w: record %d: label %q is given twice (labels are matched ignoring case); give each label once", ErrDuplicateKey, k.elem, name())
	case k.depth != 2 || senmlLabels[string(k.name)]:
		return nil // a defined label, or inside the value of an ignored one
	case bytes.HasSuffix(k.name, []byte("_")):
		return fmt.Errorf("%w: record %d: label %q ends in \"_\", so RFC 8428 §4.4 makes it must-understand, and Waterchain does not understand it (labels used: bn, bt, bu, bv, bver, n, u, v, vs, t)", ErrUnknownField, k.elem, name())
	}
	for l := range senmlLabels {
		if bytes.EqualFold(k.name, []byte(l)) {
			return fmt.Errorf("%w: record %d: label %q is not %q: SenML labels are case-sensitive", ErrUnknownField, k.elem, name(), l)
		}
	}
	return nil // unknown: ignored (RFC 8428 §4.4)
}

func measureNames() []string {
	out := make([]string, len(chain.Measures))
	for i, m := range chain.Measures {
		out[i] = m.Name
	}
	return out
}

// parseName splits a resolved SenML name into device and field.
func parseName(name string) (chain.PubKey, string, error) {
	rest, ok := strings.CutPrefix(name, DeviceURNPrefix)
	if !ok || len(rest) < 2*len(chain.PubKey{})+2 || rest[2*len(chain.PubKey{})] != ':' {
		return chain.PubKey{}, "", fmt.Errorf("%w: name %q: want %s<device key, 64 hex digits>:<field> (base name + name)", ErrMalformed, truncate(name, 100), DeviceURNPrefix)
	}
	keyHex, field := rest[:2*len(chain.PubKey{})], rest[2*len(chain.PubKey{})+1:]
	dev, err := chain.ParsePubKey(keyHex)
	if err != nil {
		return chain.PubKey{}, "", fmt.Errorf("%w: name %q: %v", ErrMalformed, truncate(name, 100), err)
	}
	return dev, field, nil
}

// setField stores one record's value into r.
func setField(r *chain.Reading, field string, rec Record, baseUnit string, bv decimal) error {
	str := func() (string, error) {
		switch {
		case rec.StringValue == nil:
			return "", fmt.Errorf("%w: want a string value \"vs\"", ErrMissingField)
		case rec.Value != "":
			return "", fmt.Errorf("%w: both \"v\" and \"vs\" are set", ErrMalformed)
		case rec.Unit != "":
			return "", fmt.Errorf("%w: has unit %q but takes none", ErrBadValue, rec.Unit)
		}
		return *rec.StringValue, nil
	}
	switch field {
	case FieldSeq:
		if rec.StringValue == nil && rec.Value != "" {
			d, err := parseDecimal(string(rec.Value))
			if err != nil {
				return err
			}
			n, ok := d.add(bv).exactInt64()
			if !ok || n < 0 || n > 1<<53 {
				return fmt.Errorf("%w: a numeric seq must be an integer from 0 to 2^53; send larger ones as \"vs\"", ErrBadValue)
			}
			r.Seq = uint64(n)
			return nil
		}
		s, err := str()
		if err != nil {
			return err
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %q is not a decimal unsigned 64-bit integer", ErrBadValue, truncate(s, 30))
		}
		r.Seq = n
	case FieldSig:
		s, err := str()
		if err != nil {
			return err
		}
		raw, err := hex.DecodeString(s)
		if err != nil || len(raw) != 64 {
			return fmt.Errorf("%w: want 128 hex digits (an ed25519 signature), got %q", ErrBadValue, truncate(s, 30))
		}
		r.Sig = raw
	case FieldImageHash:
		s, err := str()
		if err != nil {
			return err
		}
		h, err := chain.ParseHash(s)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadValue, err)
		}
		r.ImageHash = &h
	default:
		dst := measureField(r, field)
		if dst == nil {
			return fmt.Errorf("%w: %q (measures are %s; other fields seq, sig, image_hash)", ErrUnknownMeasure, field, strings.Join(measureNames(), ", "))
		}
		switch {
		case rec.Value == "":
			return fmt.Errorf("%w: want a numeric value \"v\"", ErrMissingField)
		case rec.StringValue != nil:
			return fmt.Errorf("%w: both \"v\" and \"vs\" are set", ErrMalformed)
		}
		sym := rec.Unit
		if sym == "" {
			sym = baseUnit
		}
		u, err := LookupUnit(field, sym)
		if err != nil {
			return err
		}
		d, err := parseDecimal(string(rec.Value))
		if err != nil {
			return err
		}
		n, err := d.add(bv).mulInt(u.Factor).roundInt64()
		if err != nil {
			return err
		}
		*dst = n
	}
	return nil
}

func measureField(r *chain.Reading, name string) *int64 {
	switch name {
	case "flow_rate":
		return &r.FlowRate
	case "volume":
		return &r.Volume
	case "volume_total":
		return &r.VolumeTotal
	case "conductivity":
		return &r.Conductivity
	case "suspended_solids":
		return &r.SuspendedSolids
	case "absorbance":
		return &r.Absorbance
	case "turbidity":
		return &r.Turbidity
	}
	return nil
}

// exactInt64 returns d as an int64 when it is an integer that fits.
func (d decimal) exactInt64() (int64, bool) {
	if d.m == nil {
		return 0, true
	}
	if d.e < 0 {
		q, r := new(big.Int).QuoRem(d.m, pow10(-d.e), new(big.Int))
		if r.Sign() != 0 || !q.IsInt64() {
			return 0, false
		}
		return q.Int64(), true
	}
	n := new(big.Int).Mul(d.m, pow10(d.e))
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// cmpInt compares d with k.
func (d decimal) cmpInt(k int64) int {
	x := new(big.Int).Mul(big.NewInt(k), pow10(max(0, -d.e)))
	y := new(big.Int).Mul(d.m, pow10(max(0, d.e)))
	return y.Cmp(x)
}

func (d decimal) String() string {
	if d.m == nil {
		return "0"
	}
	return d.m.String() + "e" + strconv.Itoa(d.e)
}

func senmlJSONErr(i int, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: record %d: JSON syntax error at byte %d: %v", ErrMalformed, i, syn.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: record %d: the JSON ends early", ErrMalformed, i)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("%w: record %d: want a SenML record object, got %s", ErrMalformed, i, typ.Value)
		}
		return fmt.Errorf("%w: record %d: %s: got %s", ErrMalformed, i, typ.Field, typ.Value)
	}
	return fmt.Errorf("%w: record %d: %v", ErrMalformed, i, err)
}
