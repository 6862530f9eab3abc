package ingest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"math"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// The fast path of decodeNative. encoding/json spends about 7 µs and 24
// allocations on a reading (reflection, a pointer per field, strings for
// the hex values), a large share of what ingesting it costs; a meter's
// body almost always has one shape, which a scanner decodes in about a
// tenth of that with a few allocations per body:
//
//   - one reading object, or an array of at least one, with JSON whitespace
//     anywhere between tokens;
//   - keys exactly the json names of nativeReading, each at most once, all
//     but image_hash present;
//   - device and image_hash 64 hex digits, sig 128, time RFC 3339 text,
//     all as strings of printable ASCII without escapes;
//   - seq, the measures and a time in Unix milliseconds as plain integers,
//     -?(0|[1-9][0-9]*), in range (seq not negative).
//
// decodeNativeFast reports ok=false for anything else — valid JSON that
// encoding/json would also accept (escapes, differently-cased keys, null
// image_hash, ...) as well as every invalid body, a key given twice among
// them — and never an error: decodeNativeSlow then decides, so that error messages and edge
// cases stay those of encoding/json. Where it accepts, it gives the
// readings decodeNativeSlow gives (FuzzNativeFastMatchesSlow checks it):
// the values go through the same parsers — hex.Decode with the length
// check of chain's decodeHexInto and Signature, time.Parse with
// time.RFC3339Nano and chain.TimeOf as chain.Time does, the integer
// ranges of strconv.ParseInt and ParseUint that encoding/json applies.

// Bits of the fields seen in a reading object.
const (
	fieldDevice = 1 << iota
	fieldSeq
	fieldTime
	fieldFlowRate
	fieldVolume
	fieldVolumeTotal
	fieldConductivity
	fieldSuspendedSolids
	fieldAbsorbance
	fieldTurbidity
	fieldImageHash
	fieldSig

	fieldsRequired = (fieldImageHash - 1) | fieldSig
)

// minReadingJSON is the length of the shortest reading object the fast
// path accepts: no whitespace, integer time, zeros. A body with more '{'
// than fit at this length is not of the fast shape, and the bound keeps
// what the fast path allocates below the size of the body.
const minReadingJSON = len(`{"device":"","seq":0,"time":0,"flow_rate":0,"volume":0,"volume_total":0,`+
	`"conductivity":0,"suspended_solids":0,"absorbance":0,"turbidity":0,"sig":""}`) +
	2*len(chain.PubKey{}) + 2*ed25519.SignatureSize

// decodeNativeFast decodes a native body of the common shape (above) into
// at most max readings, or reports ok=false.
func decodeNativeFast(body []byte, max int) (_ []*chain.Reading, ok bool) {
	// Every '{' of a body of the fast shape opens a reading: strings hold
	// no braces that would pass their checks.
	n := bytes.Count(body, []byte{'{'})
	if n == 0 || n > max || n > len(body)/minReadingJSON {
		return nil, false
	}
	d := fastDecoder{
		b:    body,
		rs:   make([]chain.Reading, n),
		sigs: make([]byte, n*ed25519.SignatureSize),
	}
	d.space()
	if d.i == len(d.b) {
		return nil, false
	}
	switch d.b[d.i] {
	case '{':
		if !d.reading() {
			return nil, false
		}
	case '[':
		d.i++
		for {
			d.space()
			if !d.reading() {
				return nil, false
			}
			d.space()
			if d.i == len(d.b) {
				return nil, false
			}
			c := d.b[d.i]
			d.i++
			if c == ']' {
				break
			}
			if c != ',' {
				return nil, false
			}
		}
	default:
		return nil, false
	}
	d.space()
	if d.i != len(d.b) || d.n != n {
		return nil, false
	}
	out := make([]*chain.Reading, n)
	for i := range d.rs {
		out[i] = &d.rs[i]
	}
	return out, true
}

// fastDecoder scans b from i, filling rs[n] with the next reading. The
// readings, their signatures and image hashes live in one array each, so
// that a batch costs a handful of allocations, not a dozen per reading.
type fastDecoder struct {
	b      []byte
	i      int
	rs     []chain.Reading
	n      int          // readings decoded
	sigs   []byte       // len(rs) signatures
	hashes []chain.Hash // len(rs) image hashes, made at the first one
}

// reading decodes the object at i into rs[n].
func (d *fastDecoder) reading() bool {
	if d.n == len(d.rs) || !d.consume('{') {
		return false
	}
	r := &d.rs[d.n]
	var seen int
	for {
		d.space()
		key, ok := d.str()
		if !ok {
			return false
		}
		d.space()
		if !d.consume(':') {
			return false
		}
		d.space()
		var field int
		switch string(key) {
		case "device":
			field = fieldDevice
			ok = d.hexInto(r.Device[:])
		case "seq":
			field = fieldSeq
			r.Seq, ok = d.unsigned()
		case "time":
			field = fieldTime
			r.Time, ok = d.timestamp()
		case "flow_rate":
			field = fieldFlowRate
			r.FlowRate, ok = d.signed()
		case "volume":
			field = fieldVolume
			r.Volume, ok = d.signed()
		case "volume_total":
			field = fieldVolumeTotal
			r.VolumeTotal, ok = d.signed()
		case "conductivity":
			field = fieldConductivity
			r.Conductivity, ok = d.signed()
		case "suspended_solids":
			field = fieldSuspendedSolids
			r.SuspendedSolids, ok = d.signed()
		case "absorbance":
			field = fieldAbsorbance
			r.Absorbance, ok = d.signed()
		case "turbidity":
			field = fieldTurbidity
			r.Turbidity, ok = d.signed()
		case "image_hash":
			field = fieldImageHash
			if d.hashes == nil {
				d.hashes = make([]chain.Hash, len(d.rs))
			}
			r.ImageHash = &d.hashes[d.n]
			ok = d.hexInto(r.ImageHash[:])
		case "sig":
			field = fieldSig
			// Capped, so that appending to one signature cannot write
			// into the next.
			off := d.n * ed25519.SignatureSize
			r.Sig = d.sigs[off : off+ed25519.SignatureSize : off+ed25519.SignatureSize]
			ok = d.hexInto(r.Sig)
		default:
			return false
		}
		if !ok || seen&field != 0 {
			return false
		}
		seen |= field
		d.space()
		if d.i == len(d.b) {
			return false
		}
		c := d.b[d.i]
		d.i++
		if c == '}' {
			break
		}
		if c != ',' {
			return false
		}
	}
	if seen&fieldsRequired != fieldsRequired {
		return false
	}
	d.n++
	return true
}

// space skips JSON whitespace.
func (d *fastDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume reports whether c is next, and if so skips it.
func (d *fastDecoder) consume(c byte) bool {
	if d.i == len(d.b) || d.b[d.i] != c {
		return false
	}
	d.i++
	return true
}

// str consumes a string and returns what lies between its quotes, which
// is what encoding/json would unquote it to if it is plain: printable
// ASCII without backslash (a backslash escape may hide a quote, so str may
// stop inside one; the string then is not plain). The callers reject what
// is not plain — keys and hex digits by their alphabet, timestamp with
// plain — so that str can find the end with one fast IndexByte.
func (d *fastDecoder) str() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	n := bytes.IndexByte(d.b[d.i:], '"')
	if n < 0 {
		return nil, false
	}
	s := d.b[d.i : d.i+n]
	d.i += n + 1
	return s, true
}

// plain reports whether s is printable ASCII without backslash.
func plain(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// hexInto consumes a string of exactly 2*len(dst) hex digits (either case)
// into dst.
func (d *fastDecoder) hexInto(dst []byte) bool {
	s, ok := d.str()
	if !ok || len(s) != 2*len(dst) {
		return false
	}
	_, err := hex.Decode(dst, s)
	return err == nil
}

// digits consumes 0|[1-9][0-9]* and returns its value, or false if there
// is none or it does not fit in a uint64. A digit after a leading 0 is left
// for the caller's next token check to reject.
func (d *fastDecoder) digits() (uint64, bool) {
	if d.i == len(d.b) {
		return 0, false
	}
	switch c := d.b[d.i]; {
	case c == '0':
		d.i++
		return 0, true
	case c < '1' || c > '9':
		return 0, false
	}
	var u uint64
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c < '0' || c > '9' {
			break
		}
		digit := uint64(c - '0')
		if u > (math.MaxUint64-digit)/10 {
			return 0, false
		}
		u = u*10 + digit
		d.i++
	}
	return u, true
}

// unsigned consumes a non-negative integer that fits in a uint64 (what
// strconv.ParseUint, and so encoding/json, accepts for seq).
func (d *fastDecoder) unsigned() (uint64, bool) {
	return d.digits()
}

// signed consumes an integer that fits in an int64.
func (d *fastDecoder) signed() (int64, bool) {
	neg := d.consume('-')
	u, ok := d.digits()
	switch {
	case !ok:
		return 0, false
	case neg && u <= 1<<63:
		return int64(-u), true // two's complement: 1<<63 is MinInt64
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	}
	return 0, false
}

// timestamp consumes RFC 3339 text or an integer of Unix milliseconds, as
// chain.Time.UnmarshalJSON reads them.
func (d *fastDecoder) timestamp() (chain.Time, bool) {
	if d.i == len(d.b) || d.b[d.i] != '"' {
		ms, ok := d.signed()
		return chain.Time(ms), ok
	}
	s, ok := d.str()
	if !ok || len(s) == 0 || !plain(s) {
		return 0, false
	}
	// time.Parse does not keep its text (its errors copy it), so this
	// conversion of up to 32 bytes stays on the stack.
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return 0, false
	}
	return chain.TimeOf(t), true
}
