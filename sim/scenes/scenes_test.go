package scenes

import (
	"bytes"
	"errors"
	"image"
	"testing"
)

func TestSyntheticDeterministic(t *testing.T) {
	for _, k := range []Kind{KindClear, KindTurbid, KindColoured, KindFoamy} {
		p := Params{Width: 160, Height: 120, Objects: 5, Hue: 200}
		a, ba := scene(t, k, p, 42)
		b, bb := scene(t, k, p, 42)
		c, _ := scene(t, k, p, 43)
		if !bytes.Equal(a.Pix, b.Pix) || len(ba) != len(bb) {
			t.Errorf("%v: same seed, different scenes", k)
		}
		for i := range ba {
			if ba[i] != bb[i] {
				t.Errorf("%v: same seed, different objects", k)
			}
		}
		if bytes.Equal(a.Pix, c.Pix) {
			t.Errorf("%v: seeds 42 and 43 draw the same scene", k)
		}
	}
}

func TestSyntheticObjectsApart(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		_, boxes := scene(t, KindClear, Params{Objects: MaxObjects, ObjectMin: 3, ObjectMax: 200}, seed)
		if len(boxes) != MaxObjects {
			t.Fatalf("seed %d: %d boxes", seed, len(boxes))
		}
		for i, a := range boxes {
			if a.Empty() || !a.In(image.Rect(0, 0, DefaultWidth, DefaultHeight)) {
				t.Errorf("seed %d: box %v", seed, a)
			}
			for _, b := range boxes[i+1:] {
				if a.Inset(-objectGap).Overlaps(b) {
					t.Errorf("seed %d: objects %v and %v closer than %d pixels", seed, a, b, objectGap)
				}
			}
		}
	}
}

func TestSynthParamsInvalid(t *testing.T) {
	valid := Params{Width: 200, Height: 150, Haze: 300, Hue: 10, Foam: 300, Objects: 4, ObjectMin: 5, ObjectMax: 20}
	if _, _, err := Draw(KindFoamy, valid, 1); err != nil {
		t.Fatalf("valid params: %v", err)
	}
	cases := []struct {
		name   string
		kind   Kind
		mutate func(*Params)
	}{
		{"kind", 9, func(*Params) {}},
		{"width", KindFoamy, func(p *Params) { p.Width = 10 }},
		{"height", KindFoamy, func(p *Params) { p.Height = 5000 }},
		{"haze", KindFoamy, func(p *Params) { p.Haze = 1001 }},
		{"hue", KindFoamy, func(p *Params) { p.Hue = 360 }},
		{"foam", KindFoamy, func(p *Params) { p.Foam = 950 }},
		{"objects", KindFoamy, func(p *Params) { p.Objects = MaxObjects + 1 }},
		{"object_min", KindFoamy, func(p *Params) { p.ObjectMin = 2 }},
		{"object_max", KindFoamy, func(p *Params) { p.ObjectMax = 4 }},
		{"object_min", KindFoamy, func(p *Params) { p.ObjectMin, p.ObjectMax = 30, 40 }},
		{"offset", KindFoamy, func(p *Params) { p.OffsetX = 1 << 21 }},
	}
	for _, c := range cases {
		p := valid
		c.mutate(&p)
		_, _, err := Draw(c.kind, p, 1)
		if !errors.Is(err, ErrInvalidParams) || !bytes.Contains([]byte(err.Error()), []byte(c.name)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := EncodeJPEG(image.NewRGBA(image.Rect(0, 0, 8, 8)), 0); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("jpeg quality 0: %v", err)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{KindClear, KindTurbid, KindColoured, KindFoamy} {
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("%v: %v, %v", k, got, err)
		}
	}
	if _, err := ParseKind("oily"); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("oily: %v", err)
	}
}

// TestSyntheticFoamCoverage: the foam covers about the fraction asked.
func TestSyntheticFoamCoverage(t *testing.T) {
	for _, foam := range []int{100, 400, 800} {
		img, _ := scene(t, KindFoamy, Params{Foam: foam, Width: 320, Height: 240}, 8)
		white := 0
		for i := 0; i < len(img.Pix); i += 4 {
			if min(img.Pix[i], img.Pix[i+1], img.Pix[i+2]) > 150 {
				white++
			}
		}
		got := white * 1000 / (320 * 240)
		if got < foam-100 || got > foam+50 {
			t.Errorf("foam %d‰ asked, %d‰ white", foam, got)
		}
	}
}

// scene draws a scene or fails the test.
func scene(t testing.TB, k Kind, p Params, seed uint64) (*image.RGBA, []image.Rectangle) {
	t.Helper()
	img, boxes, err := Draw(k, p, seed)
	if err != nil {
		t.Fatalf("Draw(%v, %+v, %d): %v", k, p, seed, err)
	}
	return img, boxes
}
