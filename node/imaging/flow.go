package imaging

import (
	"fmt"
	"image"
	"slices"
)

// Defaults of FlowParams.
const (
	DefaultFlowBlock  = 16
	DefaultFlowSearch = 16
	// maxFlowBlocks bounds the blocks tracked, spread evenly over the
	// frame, which bounds the cost: at most 128 × (2·Search+1)² block
	// comparisons.
	maxFlowBlocks = 128
	// minBlockTexture is the least mean absolute deviation of luma, in
	// 1/16 luma units, for a block to be tracked: flat blocks match
	// anywhere.
	minBlockTexture = 16
	// maxMicrometresPerPixel (10 m a pixel) keeps the speed arithmetic
	// within 64 bits: 2·64² · (10^7)² < 2^64.
	maxMicrometresPerPixel = 10_000_000
)

// FlowParams describe a pair of frames for EstimateFlow.
type FlowParams struct {
	// IntervalMillis is the time from the first frame to the second, > 0.
	IntervalMillis int64
	// MicrometresPerPixel is the size of one pixel on the water surface,
	// > 0, from the camera's mounting (height, lens); 0 leaves the speed
	// out and reports the displacement only.
	MicrometresPerPixel int64
	// Block is the side of the tracked blocks in pixels (default 16, 4..64).
	Block int
	// Search is the largest displacement searched in each direction, in
	// pixels (default 16, 1..64).
	Search int
}

func (p FlowParams) withDefaults() FlowParams {
	if p.Block == 0 {
		p.Block = DefaultFlowBlock
	}
	if p.Search == 0 {
		p.Search = DefaultFlowSearch
	}
	return p
}

// Validate names the first field out of range (after defaults).
func (p FlowParams) Validate() error {
	p = p.withDefaults()
	switch {
	case p.IntervalMillis <= 0:
		return fmt.Errorf("%w: flow interval_millis %d, want > 0", ErrInvalidParams, p.IntervalMillis)
	case p.MicrometresPerPixel < 0 || p.MicrometresPerPixel > maxMicrometresPerPixel:
		return fmt.Errorf("%w: flow micrometres_per_pixel %d, want 0..%d", ErrInvalidParams, p.MicrometresPerPixel, maxMicrometresPerPixel)
	case p.Block < 4 || p.Block > 64:
		return fmt.Errorf("%w: flow block %d, want 4..64", ErrInvalidParams, p.Block)
	case p.Search < 1 || p.Search > 64:
		return fmt.Errorf("%w: flow search %d, want 1..64", ErrInvalidParams, p.Search)
	}
	return nil
}

// Flow is the surface motion between two frames.
type Flow struct {
	// DX, DY is the median displacement of the tracked blocks, in whole
	// pixels, from the first frame to the second (+x right, +y down).
	DX int32 `cbor:"1,keyasint" json:"dx"`
	DY int32 `cbor:"2,keyasint" json:"dy"`
	// Blocks is the number of textured blocks tracked.
	Blocks uint32 `cbor:"3,keyasint" json:"blocks"`
	// Speed is |(DX, DY)| × MicrometresPerPixel ÷ IntervalMillis, in mm/s,
	// rounded down; 0 when MicrometresPerPixel is 0.
	Speed uint32 `cbor:"4,keyasint" json:"speed"`
}

// EstimateFlow estimates the surface speed from two frames of one camera
// taken IntervalMillis apart, by block matching: textured blocks of the
// first frame are searched for in the second, within ±Search pixels, by the
// least sum of absolute luma differences (ties to the smallest
// displacement, then in raster order), and the per-axis medians of the
// block displacements are the flow. Integer arithmetic throughout. The
// resolution is one pixel per interval: choose the interval so the surface
// moves several pixels.
func EstimateFlow(first, second image.Image, p FlowParams) (Flow, error) {
	if err := p.Validate(); err != nil {
		return Flow{}, err
	}
	p = p.withDefaults()
	if first == nil || second == nil {
		return Flow{}, fmt.Errorf("%w: flow needs two frames", ErrInvalidParams)
	}
	fb, sb := first.Bounds(), second.Bounds()
	if fb.Dx() != sb.Dx() || fb.Dy() != sb.Dy() {
		return Flow{}, fmt.Errorf("%w: flow frames differ in size: %dx%d and %dx%d",
			ErrInvalidParams, fb.Dx(), fb.Dy(), sb.Dx(), sb.Dy())
	}
	for _, r := range []image.Rectangle{fb, sb} {
		if w, h := int64(max(r.Dx(), 0)), int64(max(r.Dy(), 0)); w*h > MaxAnalyzePixels {
			return Flow{}, fmt.Errorf("%w: flow frame %dx%d, limit %d pixels", ErrTooManyPixels, w, h, MaxAnalyzePixels)
		}
	}
	a, b := lumaPlane(toFrame(first)), lumaPlane(toFrame(second))
	w, h := fb.Dx(), fb.Dy()
	m := p.Search
	// Block origins: a grid inside the margin, thinned to maxFlowBlocks.
	nx, ny := (w-2*m)/p.Block, (h-2*m)/p.Block
	if nx <= 0 || ny <= 0 {
		return Flow{}, fmt.Errorf("%w: flow frames %dx%d too small for block %d and search %d",
			ErrInvalidParams, w, h, p.Block, p.Search)
	}
	step := 1
	for (nx+step-1)/step*((ny+step-1)/step) > maxFlowBlocks {
		step++
	}
	var dxs, dys []int32
	for by := 0; by < ny; by += step {
		for bx := 0; bx < nx; bx += step {
			x0, y0 := m+bx*p.Block, m+by*p.Block
			if blockTexture(a, w, x0, y0, p.Block) < minBlockTexture {
				continue
			}
			dx, dy := matchBlock(a, b, w, x0, y0, p.Block, m)
			dxs, dys = append(dxs, int32(dx)), append(dys, int32(dy))
		}
	}
	if len(dxs) == 0 {
		return Flow{}, fmt.Errorf("%w: no %dx%d block of the first frame has texture to track",
			ErrNoTexture, p.Block, p.Block)
	}
	f := Flow{DX: lowerMedian(dxs), DY: lowerMedian(dys), Blocks: uint32(len(dxs))}
	if p.MicrometresPerPixel > 0 {
		d2 := uint64(int64(f.DX)*int64(f.DX) + int64(f.DY)*int64(f.DY))
		um := isqrt(d2 * uint64(p.MicrometresPerPixel) * uint64(p.MicrometresPerPixel))
		f.Speed = uint32(min(um/uint64(p.IntervalMillis), 1<<32-1))
	}
	return f, nil
}

func lumaPlane(f *frame) []uint8 {
	y := make([]uint8, f.pixels())
	for i := range y {
		y[i] = uint8(luma(f.rgb[3*i], f.rgb[3*i+1], f.rgb[3*i+2]))
	}
	return y
}

// blockTexture is the mean absolute deviation of luma in the block, in 1/16
// luma units.
func blockTexture(y []uint8, w, x0, y0, n int) int {
	sum := 0
	for j := range n {
		for _, v := range y[(y0+j)*w+x0 : (y0+j)*w+x0+n] {
			sum += int(v)
		}
	}
	mean16 := sum * 16 / (n * n)
	dev := 0
	for j := range n {
		for _, v := range y[(y0+j)*w+x0 : (y0+j)*w+x0+n] {
			d := int(v)*16 - mean16
			if d < 0 {
				d = -d
			}
			dev += d
		}
	}
	return dev / (n * n)
}

// matchBlock returns the displacement within ±r minimising the sum of
// absolute differences between the block of a at (x0, y0) and b.
func matchBlock(a, b []uint8, w, x0, y0, n, r int) (int, int) {
	best, bdx, bdy := -1, 0, 0
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			sad := 0
			for j := 0; j < n && (best < 0 || sad <= best); j++ { // stop once worse
				ra := a[(y0+j)*w+x0 : (y0+j)*w+x0+n]
				rb := b[(y0+j+dy)*w+x0+dx : (y0+j+dy)*w+x0+dx+n]
				for i, v := range ra {
					d := int(v) - int(rb[i])
					if d < 0 {
						d = -d
					}
					sad += d
				}
			}
			better := best < 0 || sad < best ||
				(sad == best && dx*dx+dy*dy < bdx*bdx+bdy*bdy)
			if better {
				best, bdx, bdy = sad, dx, dy
			}
		}
	}
	return bdx, bdy
}

func lowerMedian(v []int32) int32 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
