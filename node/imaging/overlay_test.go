package imaging

import (
	"bytes"
	"image"
	"image/color"
	"testing"

	"github.com/waterchain/waterchain/sim/scenes"
)

func TestOverlay(t *testing.T) {
	img, _ := scene(t, scenes.KindTurbid, scenes.Params{Objects: 3, Width: 320, Height: 240}, 11)
	orig := bytes.Clone(img.Pix)
	a := mustAnalyze(t, img)
	if len(a.Objects) != 3 {
		t.Fatalf("%d objects", len(a.Objects))
	}
	out := Overlay(img, a)
	if !bytes.Equal(img.Pix, orig) {
		t.Fatal("Overlay modified its input")
	}
	if out.Bounds() != img.Bounds() {
		t.Fatalf("bounds %v", out.Bounds())
	}
	inOutline := func(x, y int) bool {
		for _, o := range a.Objects {
			r := o.Box.Rectangle()
			if image.Pt(x, y).In(r.Inset(-outlineWidth)) && !image.Pt(x, y).In(r) {
				return true
			}
		}
		return false
	}
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			got := out.RGBAAt(x, y)
			if inOutline(x, y) {
				if got != OutlineColour {
					t.Fatalf("(%d,%d) on an outline is %v", x, y, got)
				}
			} else if got != img.RGBAAt(x, y) {
				t.Fatalf("(%d,%d) off the outlines changed: %v → %v", x, y, img.RGBAAt(x, y), got)
			}
		}
	}
}

func TestOverlayClipped(t *testing.T) {
	// An object at the corner: its outline is clipped to the image.
	img := image.NewRGBA(image.Rect(0, 0, 50, 50))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	for y := 0; y < 10; y++ {
		for x := 0; x < 10; x++ {
			img.Set(x, y, color.White)
		}
	}
	a := mustAnalyze(t, img)
	if len(a.Objects) != 1 {
		t.Fatalf("objects %v", a.Objects)
	}
	out := Overlay(img, a)
	if out.RGBAAt(10, 5) != OutlineColour || out.RGBAAt(5, 11) != OutlineColour || out.RGBAAt(5, 5) != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("outline at the corner object is wrong")
	}
	if Overlay(nil, a).Bounds() != (image.Rectangle{}) {
		t.Error("nil image")
	}
}
