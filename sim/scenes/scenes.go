package scenes

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
)

// ErrInvalidParams means a Params, a kind name or a JPEG quality is out of
// range; the message names the field and the range wanted.
var ErrInvalidParams = errors.New("scenes: invalid parameters")

// Kind is the water type of a scene.
type Kind uint8

const (
	// KindClear is dark blue-green water with ripples.
	KindClear Kind = 1
	// KindTurbid is clear water under a milky brown haze (Params.Haze,
	// DefaultTurbidHaze when zero).
	KindTurbid Kind = 2
	// KindColoured is water stained by a dye of hue Params.Hue.
	KindColoured Kind = 3
	// KindFoamy is clear water with white foam patches covering about
	// Params.Foam permille of the frame (DefaultFoam when zero).
	KindFoamy Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindClear:
		return "clear"
	case KindTurbid:
		return "turbid"
	case KindColoured:
		return "coloured"
	case KindFoamy:
		return "foamy"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind parses the String form of a kind, for command-line flags.
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{KindClear, KindTurbid, KindColoured, KindFoamy} {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: kind %q: want clear, turbid, coloured or foamy", ErrInvalidParams, s)
}

// Defaults and bounds of Params.
const (
	DefaultWidth      = 640
	DefaultHeight     = 480
	DefaultTurbidHaze = 600
	DefaultFoam       = 400
	DefaultObjectMin  = 10
	DefaultObjectMax  = 60
	// MaxObjects is the number of grid cells objects are placed in,
	// one per cell, so that no two touch.
	MaxObjects = gridSize * gridSize
	gridSize   = 4
	// objectGap is the least distance in pixels between an object and its
	// cell's edge, so objects in neighbouring cells are at least twice this
	// apart and JPEG ringing cannot join them.
	objectGap = 6
	// objectContrast is the least L1 RGB distance between an object's
	// colour and the water under it: four times imaging.DefaultMinContrast, well
	// past the detector's strong threshold on any synthetic water.
	objectContrast = 240
)

// Params shapes a scene. The zero value is a 640×480 scene
// of its kind without objects.
type Params struct {
	// Width and Height in pixels; zero means 640×480. At least 64×64.
	Width, Height int
	// Haze in permille blends a milky brown haze over the water of any kind
	// (0 none, 1000 only haze). Floating objects lie on top of it.
	Haze int
	// Hue of the dye of a coloured scene, degrees 0..359.
	Hue int
	// Foam is the foam coverage of a foamy scene in permille, 1..900.
	Foam int
	// Objects is the number of floating objects drawn, 0..MaxObjects,
	// one per cell of a 4×4 grid, never touching.
	Objects int
	// ObjectMin and ObjectMax bound each object's width and height in
	// pixels (defaults 10 and 60); an object never exceeds its cell.
	ObjectMin, ObjectMax int
	// OffsetX and OffsetY shift the water texture: the scene at (x, y)
	// shows the surface at (x+OffsetX, y+OffsetY). Two frames of one seed
	// whose offsets differ by (dx, dy) show a surface that moved by
	// (−dx, −dy) pixels, for flow tests. Objects do not move.
	OffsetX, OffsetY int
}

func (p Params) withDefaults(k Kind) Params {
	if p.Width == 0 {
		p.Width = DefaultWidth
	}
	if p.Height == 0 {
		p.Height = DefaultHeight
	}
	if k == KindTurbid && p.Haze == 0 {
		p.Haze = DefaultTurbidHaze
	}
	if k == KindFoamy && p.Foam == 0 {
		p.Foam = DefaultFoam
	}
	if p.ObjectMin == 0 {
		p.ObjectMin = DefaultObjectMin
	}
	if p.ObjectMax == 0 {
		p.ObjectMax = DefaultObjectMax
	}
	return p
}

func (p Params) validate(k Kind) error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: scene %s: %s %v, want %s", ErrInvalidParams, k, field, v, want)
	}
	switch {
	case k < KindClear || k > KindFoamy:
		return fmt.Errorf("%w: scene kind %d, want clear, turbid, coloured or foamy", ErrInvalidParams, k)
	case p.Width < 64 || p.Width > 4096:
		return bad("width", p.Width, "64..4096")
	case p.Height < 64 || p.Height > 4096:
		return bad("height", p.Height, "64..4096")
	case p.Haze < 0 || p.Haze > 1000:
		return bad("haze", p.Haze, "0..1000")
	case p.Hue < 0 || p.Hue > 359:
		return bad("hue", p.Hue, "0..359")
	case k == KindFoamy && (p.Foam < 1 || p.Foam > 900):
		return bad("foam", p.Foam, "1..900")
	case p.Objects < 0 || p.Objects > MaxObjects:
		return bad("objects", p.Objects, fmt.Sprintf("0..%d", MaxObjects))
	case p.ObjectMin < 3 || p.ObjectMax < p.ObjectMin:
		return bad("object_min..object_max", fmt.Sprintf("%d..%d", p.ObjectMin, p.ObjectMax), "3 ≤ min ≤ max")
	case p.Objects > 0 && p.ObjectMin > min(p.Width, p.Height)/gridSize-2*objectGap:
		return bad("object_min", p.ObjectMin, fmt.Sprintf("at most %d for a %dx%d frame", min(p.Width, p.Height)/gridSize-2*objectGap, p.Width, p.Height))
	case p.OffsetX < -1<<20 || p.OffsetX > 1<<20 || p.OffsetY < -1<<20 || p.OffsetY > 1<<20:
		return bad("offset", fmt.Sprintf("(%d,%d)", p.OffsetX, p.OffsetY), "within ±2^20")
	}
	return nil
}

// Colours of the scene, 8-bit RGB.
var (
	clearWater = [3]int32{36, 76, 92}
	hazeColour = [3]int32{182, 164, 132}
	foamColour = [3]int32{236, 238, 232}
	// objectPalette is floating waste: white and coloured plastic, dark
	// wood, a yellow canister, a green bottle. Each differs from both clear
	// and hazy water by well over imaging.Params.MinContrast.
	objectPalette = [][3]int32{
		{240, 240, 236}, {210, 36, 30}, {24, 22, 20}, {234, 200, 40}, {40, 170, 70}, {30, 90, 220}, {250, 130, 20},
	}
)

// Draw draws a scene of the given kind, deterministically from seed:
// the same arguments give the same pixels on every platform (integer
// arithmetic and a fixed generator only). It returns the image and the
// bounding boxes of the floating objects drawn, in drawing order.
func Draw(kind Kind, p Params, seed uint64) (*image.RGBA, []image.Rectangle, error) {
	p = p.withDefaults(kind)
	if err := p.validate(kind); err != nil {
		return nil, nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
	texSeed := mix64(seed ^ 0x5752_5445_5854) // texture
	noiseSeed := mix64(seed ^ mix64(uint64(int64(p.OffsetX))<<32^uint64(int64(p.OffsetY))&0xFFFFFFFF) ^ 0x4E4F_4953)

	var foamThreshold int32 = 1 << 30
	if kind == KindFoamy {
		foamThreshold = foamLevel(p, texSeed)
	}
	var dye [3]int32
	if kind == KindColoured {
		r, g, b := hsvToRGB(p.Hue, 200, 190)
		dye = [3]int32{int32(r), int32(g), int32(b)}
	}
	haze := int32(p.Haze)

	for y := 0; y < p.Height; y++ {
		for x := 0; x < p.Width; x++ {
			tx, ty := x+p.OffsetX, y+p.OffsetY
			rip := ripple(tx, ty, texSeed) - 128 // within ±128, mostly ±30
			var c [3]int32
			for i := range c {
				c[i] = clearWater[i] + rip*(14+3*int32(i))/64
			}
			if kind == KindColoured {
				for i := range c {
					c[i] = (c[i]*250 + dye[i]*750) / 1000
				}
			}
			if haze > 0 {
				for i := range c {
					c[i] = (c[i]*(1000-haze) + hazeColour[i]*haze) / 1000
				}
			}
			if kind == KindFoamy {
				n := foamNoise(tx, ty, texSeed)
				if n > foamThreshold-12 {
					// Soft edge over 12 noise units, white texture inside.
					a := min(n-(foamThreshold-12), 24) * 1000 / 24
					grain := int32(hash3(tx, ty, texSeed^0xF0A1)&31) - 16
					for i := range c {
						fc := foamColour[i] + grain
						c[i] = (c[i]*(1000-a) + fc*a) / 1000
					}
				}
			}
			o := img.PixOffset(x, y)
			h := hash3(x, y, noiseSeed)
			for i := range c {
				// Sensor noise: uniform in −4..+4 per channel.
				v := c[i] + int32((h>>(8*i))%9) - 4
				img.Pix[o+i] = clamp8(v)
			}
			img.Pix[o+3] = 0xFF
		}
	}
	boxes := drawObjects(img, p, seed)
	return img, boxes, nil
}

// drawObjects places p.Objects objects, one in each of as many randomly
// chosen cells of a 4×4 grid, each a filled rectangle or ellipse of random
// size and palette colour, and returns their tight bounding boxes.
func drawObjects(img *image.RGBA, p Params, seed uint64) []image.Rectangle {
	if p.Objects == 0 {
		return nil
	}
	rng := splitmix{state: seed ^ 0x4F424A45_43545321}
	cells := make([]int, MaxObjects)
	for i := range cells {
		cells[i] = i
	}
	for i := len(cells) - 1; i > 0; i-- { // Fisher–Yates
		j := rng.intn(i + 1)
		cells[i], cells[j] = cells[j], cells[i]
	}
	cw, ch := p.Width/gridSize, p.Height/gridSize
	boxes := make([]image.Rectangle, 0, p.Objects)
	for _, cell := range cells[:p.Objects] {
		cx, cy := cell%gridSize*cw, cell/gridSize*ch
		maxW := min(p.ObjectMax, cw-2*objectGap)
		maxH := min(p.ObjectMax, ch-2*objectGap)
		w := p.ObjectMin + rng.intn(maxW-p.ObjectMin+1)
		h := p.ObjectMin + rng.intn(maxH-p.ObjectMin+1)
		x0 := cx + objectGap + rng.intn(cw-2*objectGap-w+1)
		y0 := cy + objectGap + rng.intn(ch-2*objectGap-h+1)
		col := objectColour(img, x0+w/2, y0+h/2, rng.intn(len(objectPalette)))
		ellipse := rng.intn(2) == 1
		box := image.Rectangle{}
		for y := y0; y < y0+h; y++ {
			for x := x0; x < x0+w; x++ {
				if ellipse {
					// Inside the ellipse inscribed in the w×h box, in
					// half-pixel units from its centre.
					dx, dy := int64(2*(x-x0)+1-w), int64(2*(y-y0)+1-h)
					W, H := int64(w), int64(h)
					if dx*dx*H*H+dy*dy*W*W > W*W*H*H {
						continue
					}
				}
				o := img.PixOffset(x, y)
				n := hash3(x, y, seed^0x6F626A)
				for i := range 3 {
					img.Pix[o+i] = clamp8(col[i] + int32((n>>(8*i))%9) - 4)
				}
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
		boxes = append(boxes, box)
	}
	return boxes
}

// objectColour picks the first palette colour, from index start on, that
// stands out from the water at (x, y) by at least objectContrast (L1 RGB),
// so that every object drawn is plainly visible.
func objectColour(img *image.RGBA, x, y, start int) [3]int32 {
	o := img.PixOffset(x, y)
	best, bestD := objectPalette[start], int32(-1)
	for k := range objectPalette {
		c := objectPalette[(start+k)%len(objectPalette)]
		var d int32
		for i := range 3 {
			d += abs(c[i] - int32(img.Pix[o+i]))
		}
		if d >= objectContrast {
			return c
		}
		if d > bestD {
			best, bestD = c, d
		}
	}
	return best
}

// foamLevel returns the foam-noise level above which a pixel is foam, so
// that about p.Foam permille of the frame is covered.
func foamLevel(p Params, seed uint64) int32 {
	var hist [256]int
	for y := 0; y < p.Height; y++ {
		for x := 0; x < p.Width; x++ {
			hist[foamNoise(x+p.OffsetX, y+p.OffsetY, seed)]++
		}
	}
	want := p.Width * p.Height * p.Foam / 1000
	acc := 0
	for level := 255; level > 0; level-- {
		acc += hist[level]
		if acc >= want {
			return int32(level)
		}
	}
	return 0
}

// ripple is the water surface: two octaves of value noise, 0..255.
func ripple(x, y int, seed uint64) int32 {
	return (2*valueNoise(x, y, 48, seed) + valueNoise(x, y, 12, seed^0x9E37)) / 3
}

// foamNoise is the field thresholded into foam patches, 0..255.
func foamNoise(x, y int, seed uint64) int32 {
	return (3*valueNoise(x, y, 40, seed^0xF0A3) + valueNoise(x, y, 10, seed^0xF0A4)) / 4
}

// valueNoise is smooth noise with lattice spacing cell: random values at the
// lattice points, interpolated with a smoothstep, 0..255.
func valueNoise(x, y, cell int, seed uint64) int32 {
	gx, fx := floorDiv(x, cell)
	gy, fy := floorDiv(y, cell)
	// Smoothstep weights 3t²−2t³ in 1/4096 units.
	sx := smooth(fx, cell)
	sy := smooth(fy, cell)
	v00 := int64(hash3(gx, gy, seed) & 0xFF)
	v10 := int64(hash3(gx+1, gy, seed) & 0xFF)
	v01 := int64(hash3(gx, gy+1, seed) & 0xFF)
	v11 := int64(hash3(gx+1, gy+1, seed) & 0xFF)
	top := v00*(4096-sx) + v10*sx
	bot := v01*(4096-sx) + v11*sx
	return int32((top*(4096-sy) + bot*sy) >> 24)
}

func smooth(f, cell int) int64 {
	t := int64(f) * 4096 / int64(cell) // 0..4095
	return (3*t*t*4096 - 2*t*t*t) >> 24
}

func floorDiv(a, b int) (q, r int) {
	q, r = a/b, a%b
	if r < 0 {
		q, r = q-1, r+b
	}
	return q, r
}

func clamp8(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

// hsvToRGB converts hue 0..359 and saturation, value 0..255 to RGB.
func hsvToRGB(h, s, v int) (r, g, b uint8) {
	region := h / 60
	rem := (h % 60) * 255 / 60
	p := v * (255 - s) / 255
	q := v * (255 - s*rem/255) / 255
	t := v * (255 - s*(255-rem)/255) / 255
	switch region {
	case 0:
		return uint8(v), uint8(t), uint8(p)
	case 1:
		return uint8(q), uint8(v), uint8(p)
	case 2:
		return uint8(p), uint8(v), uint8(t)
	case 3:
		return uint8(p), uint8(q), uint8(v)
	case 4:
		return uint8(t), uint8(p), uint8(v)
	}
	return uint8(v), uint8(p), uint8(q)
}

// splitmix is SplitMix64, written out so that scenes (and the reference
// histograms built from them) never depend on a library generator.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	return mix64(s.state)
}

// intn returns a value in [0, n), n > 0. The modulo bias is irrelevant for
// drawing scenes.
func (s *splitmix) intn(n int) int { return int(s.next() % uint64(n)) }

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func hash3(x, y int, seed uint64) uint32 {
	return uint32(mix64(uint64(int64(x))*0x9E3779B97F4A7C15^uint64(int64(y))*0xC2B2AE3D27D4EB4F^seed) >> 32)
}

// EncodeJPEG encodes img as a baseline JPEG at quality 1..100.
func EncodeJPEG(img image.Image, quality int) ([]byte, error) {
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("%w: jpeg quality %d, want 1..100", ErrInvalidParams, quality)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("scenes: encode jpeg: %w", err)
	}
	return buf.Bytes(), nil
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}
