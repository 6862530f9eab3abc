package imaging

import (
	"fmt"
	"image"
	"math/bits"
)

// AnalysisVersion identifies the algorithm and constants behind an
// Analysis. Any change that can change a figure for some input (bins,
// references, thresholds, formulas, pixel conversion) must bump it.
const AnalysisVersion = 1

// Defaults of Params.
const (
	// DefaultMinObjectArea is the smallest connected component, in pixels,
	// reported as a floating object (a 6×6 blob). Smaller specks are noise,
	// JPEG artefacts or glints.
	DefaultMinObjectArea = 32
	// DefaultMinContrast is the least L1 distance in RGB (|ΔR|+|ΔG|+|ΔB|,
	// 0..765) between a pixel and the water's median colour for the pixel
	// to count as foreground.
	DefaultMinContrast = 60
	// MaxReportedObjects bounds Analysis.Objects; ObjectCount counts all.
	MaxReportedObjects = 64
	// madFactor scales the median absolute deviation of the water's colour
	// distances into the adaptive part of the foreground threshold.
	madFactor = 5
	// contrastRef is the coefficient of variation of luma (RMS contrast
	// over mean brightness, permille) that maps to turbidity 500.
	contrastRef = 50
	// darkBrightness is the mean luma, in tenths, under which a frame is
	// flagged Dark.
	darkBrightness = 160
)

// Params tune the object detector. Every node must analyse with the same
// Params to get the same figures; nodes use DefaultParams.
type Params struct {
	// MinObjectArea is the smallest object in pixels, at least 1.
	MinObjectArea int
	// MinContrast is the least foreground distance (see
	// DefaultMinContrast), 1..765.
	MinContrast int
}

// DefaultParams returns the parameters Analyze uses.
func DefaultParams() Params {
	return Params{MinObjectArea: DefaultMinObjectArea, MinContrast: DefaultMinContrast}
}

// Validate names the first field out of range.
func (p Params) Validate() error {
	switch {
	case p.MinObjectArea < 1:
		return fmt.Errorf("%w: min_object_area %d, want at least 1", ErrInvalidParams, p.MinObjectArea)
	case p.MinContrast < 1 || p.MinContrast > 765:
		return fmt.Errorf("%w: min_contrast %d, want 1..765", ErrInvalidParams, p.MinContrast)
	}
	return nil
}

// Box is a rectangle in image coordinates, Min inclusive, Max exclusive, as
// image.Rectangle.
type Box struct {
	MinX int32 `cbor:"1,keyasint" json:"x0"`
	MinY int32 `cbor:"2,keyasint" json:"y0"`
	MaxX int32 `cbor:"3,keyasint" json:"x1"`
	MaxY int32 `cbor:"4,keyasint" json:"y1"`
}

// Rectangle returns b as an image.Rectangle.
func (b Box) Rectangle() image.Rectangle {
	return image.Rect(int(b.MinX), int(b.MinY), int(b.MaxX), int(b.MaxY))
}

// Object is one floating object: a connected component of foreground
// pixels.
type Object struct {
	Box  Box    `cbor:"1,keyasint" json:"box"`
	Area uint32 `cbor:"2,keyasint" json:"area"` // pixels
}

// Analysis is what Analyze derives from one image. Every figure is an
// integer computed in integer arithmetic from the decoded pixels, so all
// nodes derive byte-identical Analyses (chain.Encode) from the same file.
//
// Scales:
//
//	Distances    Bhattacharyya distance × 1_000_000 (DistanceScale)
//	Histogram    permille of pixels per bin
//	Brightness   mean luma of the water region, tenths (0..2550)
//	Contrast     RMS contrast (standard deviation of luma) of the water
//	             region, tenths
//	Turbidity    1000·50 / (cv + 50), cv = Contrast÷Brightness in
//	             permille: 1000 a uniform frame, 500 at cv = 5%, towards 0
//	             for crisp, contrasted water
//	Background   median RGB of the frame, 0..255 each
//	Threshold    L1 RGB distance from Background above which a pixel is
//	             foreground, 0..765
//	ObjectArea   permille of the frame covered by objects
type Analysis struct {
	Version uint8  `cbor:"1,keyasint" json:"version"`
	Width   uint32 `cbor:"2,keyasint" json:"width"`
	Height  uint32 `cbor:"3,keyasint" json:"height"`

	// Class is the water type whose reference histogram is nearest.
	Class     Class          `cbor:"4,keyasint" json:"class"`
	Distances ClassDistances `cbor:"5,keyasint" json:"distances"`
	Histogram Histogram      `cbor:"6,keyasint" json:"histogram"`

	Brightness uint16 `cbor:"7,keyasint" json:"brightness"`
	Contrast   uint16 `cbor:"8,keyasint" json:"contrast"`
	Turbidity  uint16 `cbor:"9,keyasint" json:"turbidity"`
	// Dark is set when the water's mean luma is under 16: a night or
	// covered camera, whose class and turbidity mean little.
	Dark bool `cbor:"10,keyasint" json:"dark"`

	Background [3]uint8 `cbor:"11,keyasint" json:"background"`
	Threshold  uint16   `cbor:"12,keyasint" json:"threshold"`
	// MinObjectArea is the Params value objects were filtered with.
	MinObjectArea uint32 `cbor:"13,keyasint" json:"min_object_area"`
	// ObjectCount counts all objects; Objects lists the largest
	// MaxReportedObjects of them, largest first (ties in raster order of
	// their first pixel).
	ObjectCount uint32   `cbor:"14,keyasint" json:"object_count"`
	ObjectArea  uint16   `cbor:"15,keyasint" json:"object_area"`
	Objects     []Object `cbor:"16,keyasint,omitempty" json:"objects,omitempty"`
}

// MaxAnalyzePixels bounds the images Analyze accepts, whatever their
// source; images from Decode are already within Limits.MaxPixels.
const MaxAnalyzePixels = 1 << 26

// Analyze analyses img with DefaultParams. An image with no pixels (or a
// nil one) gives ClassUnknown and zero figures; the only error is an image
// over MaxAnalyzePixels (ErrTooManyPixels).
func Analyze(img image.Image) (Analysis, error) {
	return AnalyzeWith(img, DefaultParams())
}

// AnalyzeWith analyses img with p. Cost is a few passes over the pixels and
// about 4 bytes of memory a pixel, plus 4 a pixel of the largest object.
// Coordinates in the result are img's: an image cropped with SubImage to a
// region of interest keeps its parent's coordinates.
func AnalyzeWith(img image.Image, p Params) (Analysis, error) {
	if err := p.Validate(); err != nil {
		return Analysis{}, err
	}
	a := Analysis{Version: AnalysisVersion, MinObjectArea: uint32(p.MinObjectArea)}
	if img != nil {
		b := img.Bounds()
		if w, h := int64(max(b.Dx(), 0)), int64(max(b.Dy(), 0)); w*h > MaxAnalyzePixels {
			return Analysis{}, fmt.Errorf("%w: analyse %dx%d = %d pixels, limit %d",
				ErrTooManyPixels, w, h, w*h, MaxAnalyzePixels)
		}
	}
	f := &frame{}
	if img != nil {
		f = toFrame(img)
	}
	a.Width, a.Height = uint32(f.w), uint32(f.h)

	hc := countHistogram(f)
	a.Histogram = hc.permille()
	a.Class, a.Distances = classify(hc)
	if f.pixels() == 0 {
		return a, nil
	}

	d := detect(f, p)
	a.Background = d.background
	a.Threshold = uint16(d.threshold)
	a.ObjectCount = uint32(len(d.objects))
	a.ObjectArea = uint16(d.objectArea * 1000 / uint64(f.pixels()))
	a.Objects = d.reported(f.rect.Min)

	w := waterStats(f, d.mask)
	a.Brightness, a.Contrast, a.Turbidity = w.brightness, w.contrast, w.turbidity()
	a.Dark = w.brightness < darkBrightness
	return a, nil
}

// water holds the luma statistics of the water region.
type water struct {
	brightness uint16 // mean luma, tenths
	contrast   uint16 // standard deviation of luma, tenths
}

// waterStats measures the pixels outside reported objects. Sums are exact;
// the variance n·Σy² − (Σy)² is formed in 128 bits so no frame size can
// overflow it.
func waterStats(f *frame, mask []uint8) water {
	var n, sum, sumSq uint64
	rgb := f.rgb
	for i, m := range mask {
		if m == maskObject {
			continue
		}
		y := uint64(luma(rgb[3*i], rgb[3*i+1], rgb[3*i+2]))
		n++
		sum += y
		sumSq += y * y
	}
	if n == 0 {
		return water{}
	}
	hi, lo := bits.Mul64(n, sumSq)
	shi, slo := bits.Mul64(sum, sum)
	lo, borrow := bits.Sub64(lo, slo, 0)
	hi, _ = bits.Sub64(hi, shi, borrow) // n·Σy² ≥ (Σy)² (Cauchy–Schwarz)
	// variance = (n·Σy² − (Σy)²) / n². Divide by n twice: the first
	// quotient, n·variance, fits 64 bits (variance < 255²), which is also
	// why hi < n as bits.Div64 requires.
	nVar, _ := bits.Div64(hi, lo, n)
	variance100 := nVar * 100 / n
	return water{
		brightness: uint16((sum*10 + n/2) / n),
		contrast:   uint16(isqrt(variance100)),
	}
}

// turbidity maps the coefficient of variation of luma, cv = contrast ÷
// brightness (permille), onto 0..1000 as 1000·ref / (cv + ref), ref being
// contrastRef: a uniform frame is 1000, cv = 5% is 500, and the index falls
// towards 0 as the water shows more texture. Under the haze model
// I' = (1−h)·I + h·A, with A the haze's luma, cv = C / (B + A·h/(1−h)),
// which falls strictly as h rises for any A > 0: more haze always reads as
// more turbid. Rounded down; never above 1000.
func (w water) turbidity() uint16 {
	b := uint64(max(w.brightness, 1))
	// cv in 1/1000 permille, to keep resolution for the division below.
	cv := uint64(w.contrast) * 1_000_000 / b
	ref := uint64(contrastRef) * 1000
	return uint16(1000 * ref / (cv + ref))
}
