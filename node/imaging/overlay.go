package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
)

// OutlineColour is the colour Overlay draws object outlines in: magenta,
// which neither water nor common floating waste is.
var OutlineColour = color.RGBA{R: 255, G: 0, B: 255, A: 255}

// outlineWidth is the thickness of an outline in pixels.
const outlineWidth = 2

// Overlay returns a copy of img with the bounding box of every object in a
// outlined: a rectangle outlineWidth pixels thick drawn just outside each
// box (so it hides none of the object), clipped to the image. img is not
// modified. a must come from analysing img (or an image with the same
// bounds); boxes outside img are clipped away.
func Overlay(img image.Image, a Analysis) *image.RGBA {
	if img == nil {
		return image.NewRGBA(image.Rectangle{})
	}
	b := img.Bounds()
	out := image.NewRGBA(b)
	draw.Draw(out, b, img, b.Min, draw.Src)
	paint := image.NewUniform(OutlineColour)
	for _, o := range a.Objects {
		r := o.Box.Rectangle().Inset(-outlineWidth)
		in := r.Inset(outlineWidth)
		edges := []image.Rectangle{
			{r.Min, image.Pt(r.Max.X, in.Min.Y)},                        // top
			{image.Pt(r.Min.X, in.Max.Y), r.Max},                        // bottom
			{image.Pt(r.Min.X, in.Min.Y), image.Pt(in.Min.X, in.Max.Y)}, // left
			{image.Pt(in.Max.X, in.Min.Y), image.Pt(r.Max.X, in.Max.Y)}, // right
		}
		for _, e := range edges {
			draw.Draw(out, e.Intersect(b), paint, image.Point{}, draw.Src)
		}
	}
	return out
}

// EncodePNG encodes img as a PNG, the format overlays are served in.
func EncodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("imaging: encode png: %w", err)
	}
	return buf.Bytes(), nil
}
