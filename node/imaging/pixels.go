package imaging

import (
	"image"
	"image/color"
)

// frame is an image flattened to 8-bit RGB, row-major, 3 bytes a pixel,
// with the origin of the image it came from.
type frame struct {
	rect image.Rectangle
	w, h int
	rgb  []uint8
}

func (f *frame) pixels() int { return f.w * f.h }

// toFrame converts img to 8-bit RGB. The conversion is exact integer
// arithmetic and depends only on the image's type and pixel values, so the
// same decoded image gives the same frame on every node:
//
//   - *image.YCbCr (JPEG): color.YCbCrToRGB on each sample;
//   - *image.Gray (greyscale JPEG or PNG): R = G = B = Y;
//   - *image.RGBA, *image.NRGBA: the colour channels as stored (alpha is
//     ignored: a camera frame is opaque);
//   - anything else (16-bit PNG, paletted PNG, CMYK JPEG): the high byte of
//     each channel of color.RGBAModel's conversion.
func toFrame(img image.Image) *frame {
	r := img.Bounds()
	f := &frame{rect: r, w: r.Dx(), h: r.Dy()}
	if f.w <= 0 || f.h <= 0 {
		f.w, f.h = 0, 0
		return f
	}
	f.rgb = make([]uint8, 3*f.w*f.h)
	out := f.rgb
	switch m := img.(type) {
	case *image.YCbCr:
		o := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				yi := m.YOffset(x, y)
				ci := m.COffset(x, y)
				out[o], out[o+1], out[o+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o += 3
			}
		}
	case *image.Gray:
		o := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < f.w; x++ {
				v := row[x]
				out[o], out[o+1], out[o+2] = v, v, v
				o += 3
			}
		}
	case *image.RGBA:
		copyRGB(out, m.Pix, m.Stride, m.PixOffset(r.Min.X, r.Min.Y), f.w, f.h)
	case *image.NRGBA:
		copyRGB(out, m.Pix, m.Stride, m.PixOffset(r.Min.X, r.Min.Y), f.w, f.h)
	default:
		o := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				out[o], out[o+1], out[o+2] = uint8(cr>>8), uint8(cg>>8), uint8(cb>>8)
				o += 3
			}
		}
	}
	return f
}

func copyRGB(out, pix []uint8, stride, start, w, h int) {
	o := 0
	for y := 0; y < h; y++ {
		row := pix[start+y*stride : start+y*stride+4*w]
		for x := 0; x < w; x++ {
			out[o], out[o+1], out[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			o += 3
		}
	}
}

// luma is BT.601 luma in 0..255 with the weights and rounding of
// color.GrayModel.
func luma(r, g, b uint8) uint32 {
	return (19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16
}

// satVal returns HSV saturation and value, 0..255, in integers.
func satVal(r, g, b uint8) (s, v uint32) {
	mx, mn := max(r, g, b), min(r, g, b)
	if mx == 0 {
		return 0, 0
	}
	d := uint32(mx - mn)
	return (d*255 + uint32(mx)/2) / uint32(mx), uint32(mx)
}

// hue returns the HSV hue in degrees, 0..359, in integers; 0 for grey.
func hue(r, g, b uint8) uint32 {
	mx, mn := max(r, g, b), min(r, g, b)
	d := int32(mx) - int32(mn)
	if d == 0 {
		return 0
	}
	var h int32
	switch mx {
	case r:
		h = 60 * (int32(g) - int32(b)) / d
	case g:
		h = 120 + 60*(int32(b)-int32(r))/d
	default:
		h = 240 + 60*(int32(r)-int32(g))/d
	}
	if h < 0 {
		h += 360
	}
	return uint32(h) % 360
}
