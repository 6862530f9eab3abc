package imaging

import (
	"errors"
	"image"
	"image/color"
	"testing"

	"github.com/waterchain/waterchain/sim/scenes"
)

func TestEstimateFlow(t *testing.T) {
	cases := []struct {
		kind   scenes.Kind
		dx, dy int // surface displacement between the frames
	}{
		{scenes.KindClear, 0, 0},
		{scenes.KindClear, 5, 0},
		{scenes.KindClear, -3, 7},
		{scenes.KindTurbid, 12, -4},
		{scenes.KindFoamy, -9, -9},
		{scenes.KindColoured, 1, 1},
	}
	for _, c := range cases {
		p := scenes.Params{Width: 320, Height: 240, Hue: 30}
		first, _ := scene(t, c.kind, p, 21)
		// The second frame samples the surface shifted back by the
		// displacement: the surface moved by (dx, dy).
		p.OffsetX, p.OffsetY = -c.dx, -c.dy
		second, _ := scene(t, c.kind, p, 21)
		for _, enc := range []string{"raw", "jpeg"} {
			var a, b image.Image = first, second
			if enc == "jpeg" {
				a, b = mustDecode(t, mustJPEG(t, first, 80)), mustDecode(t, mustJPEG(t, second, 80))
			}
			f, err := EstimateFlow(a, b, FlowParams{IntervalMillis: 500, MicrometresPerPixel: 2000})
			if err != nil {
				t.Fatalf("%v %+d%+d %s: %v", c.kind, c.dx, c.dy, enc, err)
			}
			if int(f.DX) != c.dx || int(f.DY) != c.dy || f.Blocks == 0 {
				t.Errorf("%v (%d,%d) %s: flow %+v", c.kind, c.dx, c.dy, enc, f)
			}
			// 2 mm a pixel over 0.5 s: 4 mm/s a pixel of displacement.
			want := uint32(isqrt(uint64(c.dx*c.dx+c.dy*c.dy)*2000*2000) / 500)
			if f.Speed != want {
				t.Errorf("%v (%d,%d) %s: speed %d mm/s, want %d", c.kind, c.dx, c.dy, enc, f.Speed, want)
			}
		}
	}
}

func TestEstimateFlowErrors(t *testing.T) {
	a, _ := scene(t, scenes.KindClear, scenes.Params{Width: 128, Height: 96}, 1)
	small, _ := scene(t, scenes.KindClear, scenes.Params{Width: 64, Height: 64}, 1)
	flat := image.NewRGBA(image.Rect(0, 0, 128, 96))
	for i := range flat.Pix {
		flat.Pix[i] = 128
	}
	ok := FlowParams{IntervalMillis: 100}
	cases := []struct {
		name string
		a, b image.Image
		p    FlowParams
		want error
	}{
		{"interval", a, a, FlowParams{}, ErrInvalidParams},
		{"scale", a, a, FlowParams{IntervalMillis: 1, MicrometresPerPixel: -1}, ErrInvalidParams},
		{"block", a, a, FlowParams{IntervalMillis: 1, Block: 2}, ErrInvalidParams},
		{"search", a, a, FlowParams{IntervalMillis: 1, Search: 65}, ErrInvalidParams},
		{"sizes differ", a, small, ok, ErrInvalidParams},
		{"nil frame", a, nil, ok, ErrInvalidParams},
		{"too small", small, small, FlowParams{IntervalMillis: 1, Block: 32, Search: 32}, ErrInvalidParams},
		{"flat", flat, flat, ok, ErrNoTexture},
		{"infinite", image.NewUniform(color.Black), image.NewUniform(color.Black), ok, ErrTooManyPixels},
	}
	for _, c := range cases {
		if _, err := EstimateFlow(c.a, c.b, c.p); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if f, err := EstimateFlow(a, a, ok); err != nil || f.DX != 0 || f.DY != 0 || f.Speed != 0 {
		t.Errorf("same frame, no scale: %+v, %v", f, err)
	}
}
