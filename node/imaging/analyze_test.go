package imaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sync"
	"testing"

	"github.com/waterchain/waterchain/chain"

	"github.com/waterchain/waterchain/sim/scenes"
)

// encodings are the ways a test image reaches Analyze: as drawn, as PNG and
// as JPEG at a low, a middling and a high quality.
var encodings = []struct {
	name string
	enc  func(testing.TB, image.Image) image.Image
}{
	{"raw", func(_ testing.TB, img image.Image) image.Image { return img }},
	{"png", func(t testing.TB, img image.Image) image.Image { return mustDecode(t, mustPNG(t, img)) }},
	{"jpeg50", func(t testing.TB, img image.Image) image.Image { return mustDecode(t, mustJPEG(t, img, 50)) }},
	{"jpeg75", func(t testing.TB, img image.Image) image.Image { return mustDecode(t, mustJPEG(t, img, 75)) }},
	{"jpeg95", func(t testing.TB, img image.Image) image.Image { return mustDecode(t, mustJPEG(t, img, 95)) }},
}

func TestClassify(t *testing.T) {
	cases := []struct {
		kind scenes.Kind
		p    scenes.Params
		want Class
	}{
		{scenes.KindClear, scenes.Params{}, ClassClear},
		{scenes.KindClear, scenes.Params{Haze: 100}, ClassClear},
		{scenes.KindTurbid, scenes.Params{}, ClassTurbid},
		{scenes.KindTurbid, scenes.Params{Haze: 400}, ClassTurbid},
		{scenes.KindTurbid, scenes.Params{Haze: 900}, ClassTurbid},
		{scenes.KindColoured, scenes.Params{Hue: 0}, ClassColoured},
		{scenes.KindColoured, scenes.Params{Hue: 110}, ClassColoured},
		{scenes.KindColoured, scenes.Params{Hue: 290}, ClassColoured},
		{scenes.KindFoamy, scenes.Params{}, ClassFoamy},
		{scenes.KindFoamy, scenes.Params{Foam: 250}, ClassFoamy},
		{scenes.KindFoamy, scenes.Params{Foam: 700}, ClassFoamy},
		// Floating objects do not change the water's class.
		{scenes.KindClear, scenes.Params{Objects: 8}, ClassClear},
		{scenes.KindTurbid, scenes.Params{Objects: 8}, ClassTurbid},
	}
	for _, c := range cases {
		// Seeds other than the references' (101..103).
		for _, seed := range []uint64{1, 2} {
			img, _ := scene(t, c.kind, c.p, seed)
			for _, e := range encodings {
				t.Run(fmt.Sprintf("%v/%+v/seed%d/%s", c.kind, c.p, seed, e.name), func(t *testing.T) {
					a := mustAnalyze(t, e.enc(t, img))
					if a.Class != c.want {
						t.Fatalf("class %v, want %v; distances %+v", a.Class, c.want, a.Distances)
					}
					// The class is the nearest reference, and every
					// distance is reported.
					for _, other := range Classes {
						if d := a.Distances.Of(other); d < a.Distances.Of(a.Class) || d > DistanceScale {
							t.Errorf("distance to %v = %d, to %v = %d", other, d, a.Class, a.Distances.Of(a.Class))
						}
					}
				})
			}
		}
	}
}

// TestColouredAnyHue: the class histogram ignores hue, so a dye of any
// colour is coloured, and the hue histogram says which colour.
func TestColouredAnyHue(t *testing.T) {
	for hue := 0; hue < 360; hue += 20 {
		img, _ := scene(t, scenes.KindColoured, scenes.Params{Hue: hue, Width: 160, Height: 120}, uint64(hue))
		a := mustAnalyze(t, img)
		if a.Class != ClassColoured {
			t.Errorf("hue %d: class %v, distances %+v", hue, a.Class, a.Distances)
		}
		peak := 0
		for i, v := range a.Histogram.Hue {
			if v > a.Histogram.Hue[peak] {
				peak = i
			}
		}
		// The dye's hue, blended over blue-green water, stays within a bin
		// or two of the dye bin.
		if d := min((peak-hue/30+HueBins)%HueBins, (hue/30-peak+HueBins)%HueBins); d > 2 {
			t.Errorf("hue %d: hue histogram peaks in bin %d (%v)", hue, peak, a.Histogram.Hue)
		}
	}
}

func TestObjectsCounted(t *testing.T) {
	for _, kind := range []scenes.Kind{scenes.KindClear, scenes.KindTurbid, scenes.KindColoured} {
		for n := 0; n <= 12; n++ {
			seed := uint64(100*int(kind) + n)
			img, truth := scene(t, kind, scenes.Params{Objects: n, Hue: 60 * n % 360, ObjectMin: 8, ObjectMax: 90}, seed)
			for _, e := range encodings {
				if e.name == "png" {
					continue // lossless: the same pixels as raw
				}
				t.Run(fmt.Sprintf("%v/%d/%s", kind, n, e.name), func(t *testing.T) {
					a := mustAnalyze(t, e.enc(t, img))
					if int(a.ObjectCount) != n || len(a.Objects) != n {
						t.Fatalf("counted %d (listed %d), drew %d: %v vs %v", a.ObjectCount, len(a.Objects), n, a.Objects, truth)
					}
					// Every drawn object is found where it was drawn: its
					// exact box, or within a few pixels after JPEG (chroma
					// subsampling bleeds saturated colours over 16-pixel
					// blocks).
					slack := 0
					if e.name != "raw" {
						slack = 8
					}
					var area uint64
					for _, want := range truth {
						if !matched(want, a.Objects, slack) {
							t.Errorf("drawn object %v not found in %v", want, a.Objects)
						}
					}
					for _, o := range a.Objects {
						area += uint64(o.Area)
					}
					if got, want := uint64(a.ObjectArea), area*1000/uint64(a.Width*a.Height); got != want {
						t.Errorf("object area %d‰, objects sum to %d‰", got, want)
					}
					if n > 0 && a.ObjectArea == 0 && area*1000 >= uint64(a.Width*a.Height) {
						t.Error("object area fraction is zero")
					}
				})
			}
		}
	}
}

// matched reports whether some object's box has every side within slack
// pixels of want's.
func matched(want image.Rectangle, got []Object, slack int) bool {
	near := func(a, b int) bool { return a-b <= slack && b-a <= slack }
	for _, o := range got {
		r := o.Box.Rectangle()
		if near(r.Min.X, want.Min.X) && near(r.Min.Y, want.Min.Y) && near(r.Max.X, want.Max.X) && near(r.Max.Y, want.Max.Y) {
			return true
		}
	}
	return false
}

// TestObjectOrderAndLimits checks the listing order, the cap on listed
// objects and MinObjectArea.
func TestObjectOrderAndLimits(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{40, 80, 90, 255}), image.Point{}, draw.Src)
	white := image.NewUniform(color.RGBA{240, 240, 240, 255})
	// 100 squares of 5×5 (area 25), 8 pixels apart, and two larger ones.
	for i := range 100 {
		x, y := 10+(i%20)*12, 10+(i/20)*12
		draw.Draw(img, image.Rect(x, y, x+5, y+5), white, image.Point{}, draw.Src)
	}
	draw.Draw(img, image.Rect(300, 200, 320, 210), white, image.Point{}, draw.Src) // 200
	draw.Draw(img, image.Rect(300, 250, 340, 260), white, image.Point{}, draw.Src) // 400

	a := mustAnalyze(t, img)
	// Default MinObjectArea is 32: only the two large ones.
	if a.ObjectCount != 2 || a.Objects[0].Area != 400 || a.Objects[1].Area != 200 {
		t.Fatalf("default params: %d objects %v", a.ObjectCount, a.Objects)
	}

	p := DefaultParams()
	p.MinObjectArea = 25
	a, err := AnalyzeWith(img, p)
	if err != nil {
		t.Fatal(err)
	}
	if a.ObjectCount != 102 || len(a.Objects) != MaxReportedObjects || a.MinObjectArea != 25 {
		t.Fatalf("min area 25: count %d, listed %d", a.ObjectCount, len(a.Objects))
	}
	if a.Objects[0].Area != 400 || a.Objects[1].Area != 200 {
		t.Errorf("largest not first: %v", a.Objects[:2])
	}
	// Equal areas are listed in raster order.
	for i := 3; i < len(a.Objects); i++ {
		p, q := a.Objects[i-1].Box, a.Objects[i].Box
		if p.MinY > q.MinY || (p.MinY == q.MinY && p.MinX > q.MinX) {
			t.Fatalf("objects %d and %d out of raster order: %v %v", i-1, i, p, q)
		}
	}
	if want := uint16((400 + 200 + 100*25) * 1000 / (400 * 300)); a.ObjectArea != want {
		t.Errorf("object area %d‰, want %d‰", a.ObjectArea, want)
	}
}

// TestObjectsInSubImage: boxes are in the coordinates of the image given,
// so a region of interest cut with SubImage reports boxes in the frame.
func TestObjectsInSubImage(t *testing.T) {
	img, truth := scene(t, scenes.KindTurbid, scenes.Params{Objects: 16}, 9)
	roi := image.Rect(160, 120, 480, 360)
	a := mustAnalyze(t, img.SubImage(roi))
	want := 0
	for _, r := range truth {
		if r.In(roi) {
			want++
			if !matched(r, a.Objects, 0) {
				t.Errorf("object %v not at its frame coordinates in %v", r, a.Objects)
			}
		}
	}
	if want == 0 || int(a.ObjectCount) < want {
		t.Fatalf("found %d objects in the region, %d lie wholly inside it", a.ObjectCount, want)
	}
}

func TestTurbidityRisesWithHaze(t *testing.T) {
	for _, e := range []string{"raw", "jpeg85"} {
		for _, seed := range []uint64{1, 2, 3} {
			prev := -1
			for haze := 0; haze <= 1000; haze += 50 {
				img, _ := scene(t, scenes.KindClear, scenes.Params{Haze: haze, Width: 320, Height: 240}, seed)
				var in image.Image = img
				if e == "jpeg85" {
					in = mustDecode(t, mustJPEG(t, img, 85))
				}
				a := mustAnalyze(t, in)
				if int(a.Turbidity) <= prev {
					t.Errorf("%s seed %d: haze %d‰ gives turbidity %d, not above %d at the haze before",
						e, seed, haze, a.Turbidity, prev)
				}
				prev = int(a.Turbidity)
			}
		}
	}
}

func TestTurbidityExtremes(t *testing.T) {
	flat := image.NewUniform(color.RGBA{128, 128, 128, 255})
	uni := image.NewRGBA(image.Rect(0, 0, 64, 64))
	draw.Draw(uni, uni.Bounds(), flat, image.Point{}, draw.Src)
	if a := mustAnalyze(t, uni); a.Turbidity != 1000 || a.Contrast != 0 || a.Brightness != 1280 || a.Dark {
		t.Errorf("uniform grey: %+v", a)
	}
	black := image.NewRGBA(image.Rect(0, 0, 64, 64))
	if a := mustAnalyze(t, black); !a.Dark {
		t.Errorf("black frame not flagged dark: %+v", a)
	}
	// Stripes of 0 and 255: the most contrast a frame can have.
	stripes := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range stripes.Pix {
		stripes.Pix[i] = uint8(255 * ((i / 2) % 2))
	}
	p := DefaultParams()
	p.MinObjectArea = 1 << 20 // no objects: all of it is water
	a, err := AnalyzeWith(stripes, p)
	if err != nil {
		t.Fatal(err)
	}
	if a.Contrast != 1275 || a.Turbidity > 50 {
		t.Errorf("stripes: contrast %d turbidity %d", a.Contrast, a.Turbidity)
	}
}

func TestAnalyzeEdgeCases(t *testing.T) {
	for _, img := range []image.Image{nil, image.NewRGBA(image.Rectangle{}), image.NewGray(image.Rect(5, 5, 5, 9))} {
		a, err := Analyze(img)
		if err != nil || a.Class != ClassUnknown || a.ObjectCount != 0 || a.Version != AnalysisVersion {
			t.Errorf("%T empty: %+v, %v", img, a, err)
		}
	}
	one := image.NewRGBA(image.Rect(0, 0, 1, 1))
	if _, err := Analyze(one); err != nil {
		t.Errorf("1×1: %v", err)
	}
	// image.Uniform is infinite.
	if _, err := Analyze(image.NewUniform(color.White)); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("infinite image: %v", err)
	}
	for _, p := range []Params{{MinObjectArea: 0, MinContrast: 60}, {MinObjectArea: 1, MinContrast: 0}, {MinObjectArea: 1, MinContrast: 766}} {
		if _, err := AnalyzeWith(one, p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

// TestDeterminism: the same bytes give byte-identical analyses, however
// often and on however many goroutines they are analysed.
func TestDeterminism(t *testing.T) {
	img, _ := scene(t, scenes.KindFoamy, scenes.Params{Objects: 6}, 5)
	for _, data := range [][]byte{mustJPEG(t, img, 80), mustPNG(t, img)} {
		want := chain.MustEncode(mustAnalyze(t, mustDecode(t, data)))
		var wg sync.WaitGroup
		got := make([][]byte, 4)
		for i := range got {
			wg.Go(func() {
				im, _, err := Decode(bytes.Clone(data), Limits{})
				if err != nil {
					return
				}
				if a, err := Analyze(im); err == nil {
					got[i] = chain.MustEncode(a)
				}
			})
		}
		wg.Wait()
		for i, g := range got {
			if !bytes.Equal(g, want) {
				t.Fatalf("run %d: analysis encodes differently", i)
			}
		}
		var back Analysis
		if err := chain.Decode(want, &back); err != nil {
			t.Fatalf("analysis does not decode back: %v", err)
		}
		if !bytes.Equal(chain.MustEncode(back), want) {
			t.Fatal("analysis does not round-trip")
		}
	}
}

// The figures are consensus data: nodes must derive the same from the
// same bytes, so any change to them must come with a new AnalysisVersion.
// These digests pin version 1: the reference histograms, and the analysis
// of one fixed scene. If a change is intended, bump AnalysisVersion and
// update them.
const (
	referencesDigest = "3bc7dba799d17cbcfe0144702417eabec3f0e12c9c309c7e33d25179ce738eb8"
	analysisDigest   = "5b59bd0129f15ebd2048f4efccafe9c812dbb940cabfc887dfa0ee7bc83eb429"
)

func TestReferenceDigest(t *testing.T) {
	rs := references
	var all []normalised
	for _, c := range Classes {
		all = append(all, rs[c])
	}
	sum := sha256.Sum256(chain.MustEncode(all))
	if got := hex.EncodeToString(sum[:]); got != referencesDigest {
		t.Errorf("reference histograms changed: digest %s, pinned %s", got, referencesDigest)
	}
}

func TestAnalysisDigest(t *testing.T) {
	img, _ := scene(t, scenes.KindTurbid, scenes.Params{Objects: 5, Width: 200, Height: 150}, 77)
	a := mustAnalyze(t, mustDecode(t, mustPNG(t, img)))
	sum := sha256.Sum256(chain.MustEncode(a))
	if got := hex.EncodeToString(sum[:]); got != analysisDigest {
		t.Errorf("analysis of the pinned scene changed: digest %s, pinned %s\n%+v", got, analysisDigest, a)
	}
}

func TestBhattacharyya(t *testing.T) {
	var a, b histCounts
	a.n, b.n = 100, 100
	a.satVal[0], b.satVal[63] = 100, 100
	pa, pb := a.normalise(), b.normalise()
	if d := bhattacharyya(&pa, &pa); d > 2000 {
		t.Errorf("identical histograms: distance %d", d)
	}
	if d := bhattacharyya(&pa, &pb); d != DistanceScale {
		t.Errorf("disjoint histograms: distance %d, want %d", d, DistanceScale)
	}
	// Closer histograms are nearer.
	var c histCounts
	c.n, c.satVal[1] = 100, 100
	pc := c.normalise()
	if bhattacharyya(&pa, &pc) >= bhattacharyya(&pa, &pb) {
		t.Error("a neighbouring bin is not nearer than the far corner")
	}
	for _, x := range []uint64{0, 1, 2, 3, 4, 15, 16, 17, 1 << 40, 1<<62 + 12345, ^uint64(0)} {
		r := isqrt(x)
		if r*r > x || (r+1)*(r+1) <= x && r+1 != 1<<32 {
			t.Errorf("isqrt(%d) = %d", x, r)
		}
	}
}

func TestClassText(t *testing.T) {
	for _, c := range append([]Class{ClassUnknown}, Classes...) {
		b, _ := c.MarshalText()
		var back Class
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("%v: %q → %v, %v", c, b, back, err)
		}
	}
	if _, err := ParseClass("muddy"); err == nil {
		t.Error("ParseClass accepted muddy")
	}
}
