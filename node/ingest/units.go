package ingest

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Unit is one unit a SenML record may give a measure in, with its exact
// integer factor to the chain's scale: chain integer = value × Factor,
// rounded half away from zero.
type Unit struct {
	Symbol  string // as written in SenML "u" or "bu"
	Measure string // chain.Measures name it applies to
	Factor  int64  // chain integer per unit
	Source  string // "RFC 8428", "RFC 8798", "ISO 7027-1" or "waterchain" (not registered)
}

// Units lists every unit the SenML decoder accepts. Registered SenML units
// come first for each measure; the "waterchain" ones are unregistered
// conveniences in common use by flow and water-quality meters. Every factor
// is an integer, so the conversion of a decimal value is exact before the
// one rounding step.
var Units = []Unit{
	{"m3/s", "flow_rate", 3_600_000_000, "RFC 8428"}, // 1 m³/s = 3.6e9 mL/h
	{"l/s", "flow_rate", 3_600_000, "RFC 8428"},
	{"m3/h", "flow_rate", 1_000_000, "waterchain"},
	{"l/min", "flow_rate", 60_000, "waterchain"},
	{"l/h", "flow_rate", 1_000, "waterchain"},
	{"L/h", "flow_rate", 1_000, "waterchain"},

	{"m3", "volume", 1_000_000, "RFC 8428"},
	{"l", "volume", 1_000, "RFC 8428"},
	{"L", "volume", 1_000, "waterchain"},
	{"mL", "volume", 1, "waterchain"},

	{"m3", "volume_total", 1_000_000, "RFC 8428"},
	{"l", "volume_total", 1_000, "RFC 8428"},
	{"L", "volume_total", 1_000, "waterchain"},
	{"mL", "volume_total", 1, "waterchain"},

	{"S/m", "conductivity", 100_000, "RFC 8428"}, // 1 S/m = 10,000 µS/cm
	{"mS/cm", "conductivity", 10_000, "waterchain"},
	{"uS/cm", "conductivity", 10, "waterchain"},

	{"kg/m3", "suspended_solids", 10_000, "RFC 8798"}, // 1 kg/m³ = 1,000 mg/L
	{"mg/l", "suspended_solids", 10, "waterchain"},
	{"mg/L", "suspended_solids", 10, "waterchain"},

	{"AU", "absorbance", 1_000, "waterchain"},
	{"mAU", "absorbance", 1, "waterchain"},

	{"NTU", "turbidity", 100, "ISO 7027-1"},
}

// encodeUnits are the units SenMLFromReading writes: for each measure one
// whose factor is a power of ten, so the decimal text of the value is exact
// and decodes back to the same integer.
var encodeUnits = map[string]string{
	"flow_rate":        "l/h",
	"volume":           "l",
	"volume_total":     "l",
	"conductivity":     "S/m",
	"suspended_solids": "kg/m3",
	"absorbance":       "AU",
	"turbidity":        "NTU",
}

// LookupUnit returns the unit of measure with the given symbol.
func LookupUnit(measure, symbol string) (Unit, error) {
	known := false
	var accepted []string
	for _, u := range Units {
		if u.Measure != measure {
			continue
		}
		known = true
		if u.Symbol == symbol {
			return u, nil
		}
		accepted = append(accepted, u.Symbol)
	}
	if !known {
		return Unit{}, fmt.Errorf("%w: %q", ErrUnknownMeasure, measure)
	}
	if symbol == "" {
		return Unit{}, fmt.Errorf("%w: %s has no unit (set \"u\" or \"bu\" to one of %s)", ErrUnknownUnit, measure, strings.Join(accepted, ", "))
	}
	return Unit{}, fmt.Errorf("%w: %q for %s (accepted: %s)", ErrUnknownUnit, symbol, measure, strings.Join(accepted, ", "))
}

// ToChain converts value, in the unit with the given symbol, to the chain's
// integer for the measure: value × factor rounded half away from zero. It is
// the conversion the SenML decoder applies, so a meter that builds the
// canonical reading with ToChain signs exactly what the node will decode.
//
// value is taken as the shortest decimal that round-trips the float64 (what
// strconv and encoding/json print), and that decimal is converted exactly:
// 0.0035 m3/s is 12,600,000 mL/h, not 12,599,999.
func ToChain(measure, unit string, value float64) (int64, error) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return 0, fmt.Errorf("%w: %s %v is not a finite number", ErrBadValue, measure, value)
	}
	u, err := LookupUnit(measure, unit)
	if err != nil {
		return 0, err
	}
	d, err := parseDecimal(strconv.FormatFloat(value, 'g', -1, 64))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", measure, err)
	}
	n, err := d.mulInt(u.Factor).roundInt64()
	if err != nil {
		return 0, fmt.Errorf("%s %v %s: %w", measure, value, unit, err)
	}
	return n, nil
}

// maxDecimalDigits and maxDecimalExp bound the numbers the decoder accepts,
// so that exact arithmetic stays small whatever a client sends.
const (
	maxDecimalDigits = 40
	maxDecimalExp    = 40
)

// decimal is the exact value m × 10^e.
type decimal struct {
	m *big.Int
	e int
}

// parseDecimal parses a JSON number exactly. It rejects anything that is
// not JSON number syntax, more than maxDecimalDigits significant digits and
// exponents beyond ±maxDecimalExp.
func parseDecimal(s string) (decimal, error) {
	bad := func(why string) (decimal, error) {
		return decimal{}, fmt.Errorf("%w: number %q %s", ErrBadValue, truncate(s, 40), why)
	}
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[start:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return bad("is not a JSON number")
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
		if frac == "" {
			return bad("is not a JSON number")
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		es := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if ds == i {
			return bad("is not a JSON number")
		}
		if i-ds > 4 {
			return bad("has an exponent out of range")
		}
		v, err := strconv.Atoi(s[es:i])
		if err != nil {
			return bad("is not a JSON number")
		}
		exp = v
	}
	if i != len(s) {
		return bad("is not a JSON number")
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return decimal{m: new(big.Int), e: 0}, nil
	}
	if len(digits) > maxDecimalDigits {
		return bad(fmt.Sprintf("has more than %d significant digits", maxDecimalDigits))
	}
	exp -= len(frac)
	if exp > maxDecimalExp || exp < -maxDecimalExp-maxDecimalDigits {
		return bad("is out of range")
	}
	m, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return bad("is not a JSON number")
	}
	if neg {
		m.Neg(m)
	}
	return decimal{m: m, e: exp}, nil
}

var bigTen = big.NewInt(10)

func pow10(n int) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

// add returns d + o exactly.
func (d decimal) add(o decimal) decimal {
	if d.m == nil {
		return o
	}
	if o.m == nil {
		return d
	}
	a, b := d, o
	if a.e > b.e {
		a, b = b, a
	}
	// a has the smaller exponent: scale b down to it.
	bm := new(big.Int).Mul(b.m, pow10(b.e-a.e))
	return decimal{m: bm.Add(bm, a.m), e: a.e}
}

// mulInt returns d × k exactly.
func (d decimal) mulInt(k int64) decimal {
	return decimal{m: new(big.Int).Mul(d.m, big.NewInt(k)), e: d.e}
}

var (
	maxInt64 = big.NewInt(math.MaxInt64)
	minInt64 = big.NewInt(math.MinInt64)
)

// roundInt64 rounds d to an integer, half away from zero, and checks that
// it fits an int64.
func (d decimal) roundInt64() (int64, error) {
	var n *big.Int
	if d.e >= 0 {
		n = new(big.Int).Mul(d.m, pow10(d.e))
	} else {
		div := pow10(-d.e)
		abs := new(big.Int).Abs(d.m)
		q, r := new(big.Int).QuoRem(abs, div, new(big.Int))
		if r.Lsh(r, 1).Cmp(div) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		if d.m.Sign() < 0 {
			q.Neg(q)
		}
		n = q
	}
	if n.Cmp(maxInt64) > 0 || n.Cmp(minInt64) < 0 {
		return 0, fmt.Errorf("%w: %s×10^%d does not fit a 64-bit integer", ErrBadValue, truncate(d.m.String(), 24), d.e)
	}
	return n.Int64(), nil
}

// formatScaled writes n / 10^k as exact decimal text, such as "12.5" for
// (12500, 3) or "-0.007" for (-7, 3).
func formatScaled(n int64, k int) string {
	if k == 0 {
		return strconv.FormatInt(n, 10)
	}
	neg := n < 0
	var digits string
	if neg {
		// Via uint64 so that MinInt64 has an absolute value.
		digits = strconv.FormatUint(uint64(-(n+1))+1, 10)
	} else {
		digits = strconv.FormatInt(n, 10)
	}
	if len(digits) <= k {
		digits = strings.Repeat("0", k-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-k], strings.TrimRight(digits[len(digits)-k:], "0")
	s := whole
	if frac != "" {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}

// log10Exact returns k when f = 10^k, else -1.
func log10Exact(f int64) int {
	k := 0
	for f > 1 && f%10 == 0 {
		f /= 10
		k++
	}
	if f != 1 {
		return -1
	}
	return k
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
