package imaging

import (
	"fmt"
	"math/bits"
)

// Histogram bins. Saturation and value are 0..255 split into 8 equal bins
// each; hue is 0..359° split into 12 bins of 30° starting at red.
const (
	SatBins = 8
	ValBins = 8
	HueBins = 12
	// ChromaMinSat and ChromaMinVal select the pixels whose hue is counted:
	// below them hue is noise.
	ChromaMinSat = 64
	ChromaMinVal = 32
)

// DistanceScale is the fixed-point scale of the Bhattacharyya distances in
// ClassDistances: 1_000_000 is distance 1.0 (no overlap), 0 identical
// histograms.
const DistanceScale = 1_000_000

// histScale is the fixed point in which normalised histograms are compared:
// a bin holding the whole image is 1<<24.
const histShift = 24

// Histogram is an image's colour histogram in permille of its pixels
// (each bin rounded down, so bins sum to at most 1000).
//
// SatVal is the joint saturation × value histogram over every pixel, bin
// s*ValBins+v for saturation bin s and value bin v (HSV, 0..255 each, 8 bins
// each). It is the histogram the water-type class is decided on: it tells
// dark clear water, milky turbid water, strongly coloured water and white
// foam apart whatever the hue of a dye.
//
// Hue is the hue histogram of the chromatic pixels (saturation at least
// ChromaMinSat, value at least ChromaMinVal), 30° a bin from red; the rest
// of the pixels are grey and counted in no hue bin. It says which colour a
// coloured discharge is.
type Histogram struct {
	SatVal [SatBins * ValBins]uint16 `cbor:"1,keyasint" json:"sat_val"`
	Hue    [HueBins]uint16           `cbor:"2,keyasint" json:"hue"`
}

// histCounts are the exact pixel counts behind a Histogram.
type histCounts struct {
	n      uint64
	satVal [SatBins * ValBins]uint64
	hue    [HueBins]uint64
}

func countHistogram(f *frame) *histCounts {
	c := &histCounts{n: uint64(f.pixels())}
	rgb := f.rgb
	for o := 0; o+2 < len(rgb); o += 3 {
		r, g, b := rgb[o], rgb[o+1], rgb[o+2]
		s, v := satVal(r, g, b)
		c.satVal[s*SatBins/256*ValBins+v*ValBins/256]++
		if s >= ChromaMinSat && v >= ChromaMinVal {
			c.hue[hue(r, g, b)*HueBins/360]++
		}
	}
	return c
}

func (c *histCounts) add(o *histCounts) {
	c.n += o.n
	for i := range c.satVal {
		c.satVal[i] += o.satVal[i]
	}
	for i := range c.hue {
		c.hue[i] += o.hue[i]
	}
}

func (c *histCounts) permille() Histogram {
	var h Histogram
	if c.n == 0 {
		return h
	}
	for i, v := range c.satVal {
		h.SatVal[i] = uint16(v * 1000 / c.n)
	}
	for i, v := range c.hue {
		h.Hue[i] = uint16(v * 1000 / c.n)
	}
	return h
}

// normalised is a histogram scaled so that the whole image is 1<<24, each
// bin rounded down.
type normalised [SatBins * ValBins]uint64

// normalise smooths the SatVal counts with a [1 2 1] kernel along each
// axis (bins past the edge mirror the edge bin, so no weight is lost) and
// scales them so the whole image is 1<<24, each bin rounded down.
// Smoothing makes neighbouring bins overlap: a histogram shifted by part of
// a bin moves its distances smoothly instead of jumping to 1.
func (c *histCounts) normalise() normalised {
	var p normalised
	if c.n == 0 {
		return p
	}
	at := func(s, v int) uint64 {
		s = min(max(s, 0), SatBins-1)
		v = min(max(v, 0), ValBins-1)
		return c.satVal[s*ValBins+v]
	}
	w := [3]uint64{1, 2, 1}
	for s := range SatBins {
		for v := range ValBins {
			var acc uint64
			for i := range 3 {
				for j := range 3 {
					acc += w[i] * w[j] * at(s+i-1, v+j-1)
				}
			}
			// acc ≤ 16·n and n ≤ MaxAnalyzePixels = 2^26, so acc<<24 fits.
			p[s*ValBins+v] = acc << histShift / (16 * c.n)
		}
	}
	return p
}

// bhattacharyya is the Bhattacharyya distance sqrt(1 − Σ sqrt(p_i q_i))
// (the form OpenCV's HISTCMP_BHATTACHARYYA computes for normalised
// histograms) in units of 1/DistanceScale, in integer arithmetic: every
// node gets the same number.
func bhattacharyya(p, q *normalised) uint32 {
	const one = uint64(1) << histShift
	var bc uint64
	for i := range p {
		bc += isqrt(p[i] * q[i]) // < 2^48 under the root
	}
	if bc > one {
		bc = one
	}
	d := isqrt((one - bc) << histShift) // sqrt(1-bc) in 2^-24 units
	return uint32(d * DistanceScale >> histShift)
}

// isqrt returns floor(sqrt(x)).
func isqrt(x uint64) uint64 {
	if x < 2 {
		return x
	}
	// Newton's iteration from a power of two above the root decreases
	// monotonically to the floor.
	r := uint64(1) << ((bits.Len64(x) + 1) / 2)
	for {
		n := (r + x/r) / 2
		if n >= r {
			return r
		}
		r = n
	}
}

// Class is the water type an image is classified as.
type Class uint8

const (
	// ClassUnknown is reported for an image with no pixels.
	ClassUnknown Class = 0
	// ClassClear is clear water: dark, with visible texture.
	ClassClear Class = 1
	// ClassTurbid is milky or muddy water: brighter and washed out.
	ClassTurbid Class = 2
	// ClassColoured is strongly coloured water (dye, pigment), any hue.
	ClassColoured Class = 3
	// ClassFoamy is water with foam or an oily, whitish surface film.
	ClassFoamy Class = 4
)

// Classes lists the classes images are compared against, in the order of
// ClassDistances.
var Classes = []Class{ClassClear, ClassTurbid, ClassColoured, ClassFoamy}

func (c Class) String() string {
	switch c {
	case ClassUnknown:
		return "unknown"
	case ClassClear:
		return "clear"
	case ClassTurbid:
		return "turbid"
	case ClassColoured:
		return "coloured"
	case ClassFoamy:
		return "foamy"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ParseClass parses the String form of a class.
func ParseClass(s string) (Class, error) {
	for _, c := range append([]Class{ClassUnknown}, Classes...) {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("class %q: want unknown, clear, turbid, coloured or foamy", s)
}

func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

func (c *Class) UnmarshalText(b []byte) error {
	p, err := ParseClass(string(b))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

// ClassDistances holds the Bhattacharyya distance (scale DistanceScale)
// from an image's SatVal histogram to each class's reference histogram.
// The class reported is the one at the smallest distance; a tie goes to the
// class listed first in Classes.
type ClassDistances struct {
	Clear    uint32 `cbor:"1,keyasint" json:"clear"`
	Turbid   uint32 `cbor:"2,keyasint" json:"turbid"`
	Coloured uint32 `cbor:"3,keyasint" json:"coloured"`
	Foamy    uint32 `cbor:"4,keyasint" json:"foamy"`
}

// Of returns the distance to class c, or DistanceScale for ClassUnknown.
func (d ClassDistances) Of(c Class) uint32 {
	switch c {
	case ClassClear:
		return d.Clear
	case ClassTurbid:
		return d.Turbid
	case ClassColoured:
		return d.Coloured
	case ClassFoamy:
		return d.Foamy
	}
	return DistanceScale
}

func (d *ClassDistances) set(c Class, v uint32) {
	switch c {
	case ClassClear:
		d.Clear = v
	case ClassTurbid:
		d.Turbid = v
	case ClassColoured:
		d.Coloured = v
	case ClassFoamy:
		d.Foamy = v
	}
}

// classify compares c with every reference.
func classify(c *histCounts) (Class, ClassDistances) {
	var d ClassDistances
	if c.n == 0 {
		return ClassUnknown, ClassDistances{DistanceScale, DistanceScale, DistanceScale, DistanceScale}
	}
	p := c.normalise()
	best, bestD := ClassUnknown, uint32(DistanceScale+1)
	for _, cl := range Classes {
		q := references[cl]
		v := bhattacharyya(&p, &q)
		d.set(cl, v)
		if v < bestD {
			best, bestD = cl, v
		}
	}
	return best, d
}
